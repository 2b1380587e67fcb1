/**
 * The user directory: display fields (username, avatar, sign) and the friend list of the chat
 * page, loaded from a JSON file.
 *
 * The file holds either an array of users or `{"users": [...]}`; each user is
 * `{"id": "1001" | 1001, "username": "张三", "avatar": "/avatars/1001.svg", "sign"?: "…",
 * "group"?: "好友"}`. Other fields (LayIM's `status`, …) are ignored. Ids follow the protocol's id
 * rules, and an integer id is the same user as its decimal string.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { normalizeId, validateLegacyId } from "../schemas/validate.ts";
import { readConfigFile } from "./files.ts";

/** One user of the directory. */
export interface DirectoryUser {
  id: string;
  username: string;
  avatar: string;
  sign?: string;
  group?: string;
}

/** Looks users up by id (the canonical string form) and lists them in file order. */
export interface Directory {
  get(id: string): DirectoryUser | undefined;
  list(): DirectoryUser[];
}

const demoUsersUrl = new URL("./demo-users.json", import.meta.url);

/** The demo directory shipped with the relay (`reference/demo-users.json`). */
export const DEMO_USERS_FILE: string = demoUsersUrl.protocol === "file:"
  ? fileURLToPath(demoUsersUrl)
  : demoUsersUrl.href;

// Avatars end up in `<img src>` on chat pages: only http(s) and relative URLs are safe there.
function isSafeUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url, "http://relative.invalid/");
    return protocol === "http:" || protocol === "https:";
  } catch {
    return false;
  }
}

function userAt(value: unknown, where: string): DirectoryUser {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${where} must be an object`);
  }
  const entry = value as Record<string, unknown>;
  const rawId = entry.id;
  if (typeof rawId !== "string" && !Number.isSafeInteger(rawId)) {
    throw new Error(`${where}.id must be a string or an integer`);
  }
  const id = normalizeId(rawId as string | number);
  if (!validateLegacyId(id).ok) {
    throw new Error(
      `${where}.id ${
        JSON.stringify(id)
      } must be 1-64 characters without whitespace or control characters`,
    );
  }
  const text = (field: string, required: boolean): string | undefined => {
    const v = entry[field];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string" || (required && v === "")) {
      throw new Error(`${where}.${field} must be a${required ? " non-empty" : ""} string`);
    }
    return v;
  };
  const user: DirectoryUser = {
    id,
    username: text("username", true)!,
    avatar: text("avatar", true)!,
  };
  if (!isSafeUrl(user.avatar)) {
    throw new Error(`${where}.avatar must be an http(s) or relative URL`);
  }
  const sign = text("sign", false);
  if (sign !== undefined) user.sign = sign;
  const group = text("group", false);
  if (group !== undefined) user.group = group;
  return user;
}

/**
 * Builds a directory from users, validating each one like {@linkcode loadDirectory} does.
 * Throws on an invalid user or a duplicate id.
 */
export function createDirectory(users: readonly DirectoryUser[]): Directory {
  const byId = new Map<string, DirectoryUser>();
  const indexOf = new Map<string, number>();
  users.forEach((value, i) => {
    const user = Object.freeze(userAt(value, `users[${i}]`));
    const first = indexOf.get(user.id);
    if (first !== undefined) {
      throw new Error(
        `duplicate user id ${JSON.stringify(user.id)} (users[${first}] and users[${i}])`,
      );
    }
    byId.set(user.id, user);
    indexOf.set(user.id, i);
  });
  const list = [...byId.values()];
  return {
    get: (id) => byId.get(id),
    list: () => [...list],
  };
}

/**
 * Loads a directory from a JSON file. Rejects with a one-line `Error` naming the file and the
 * bad entry when the file is unreadable or invalid.
 */
export async function loadDirectory(path: string): Promise<Directory> {
  const text = new TextDecoder().decode(await readConfigFile(path, "users file"));
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`users file ${path} is not valid JSON`);
  }
  const users = Array.isArray(data) ? data : typeof data === "object" && data !== null &&
      Array.isArray((data as { users?: unknown }).users)
    ? (data as { users: unknown[] }).users
    : undefined;
  if (!users) {
    throw new Error(`users file ${path} must hold an array of users or {"users": [...]}`);
  }
  try {
    return createDirectory(users);
  } catch (error) {
    throw new Error(`users file ${path}: ${(error as Error).message}`);
  }
}
