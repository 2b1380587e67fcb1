import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  createDirectory,
  DEMO_USERS_FILE,
  type DirectoryUser,
  loadDirectory,
} from "./directory.ts";

async function withTempFile(content: string, fn: (path: string) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, content);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

async function loadError(content: string): Promise<{ path: string; message: string }> {
  let result = { path: "", message: "" };
  await withTempFile(content, async (path) => {
    const error = await assertRejects(() => loadDirectory(path));
    assert(error instanceof Error);
    result = { path, message: error.message };
  });
  return result;
}

const zhang = { id: "1001", username: "张三", avatar: "/avatars/1001.svg" };

Deno.test("demo directory: five users with local avatars that exist", async () => {
  const directory = await loadDirectory(DEMO_USERS_FILE);
  const users = directory.list();
  assertEquals(users.map((u) => u.id), ["1001", "1002", "1003", "1004", "1005"]);
  assertEquals(directory.get("1001")?.username, "张三");
  assertEquals(directory.get("1005")?.username, "小明");
  for (const user of users) {
    assert(user.sign && user.group, user.id);
    assertEquals(user.avatar, `/avatars/${user.id}.svg`);
    const svg = await Deno.readTextFile(new URL(`../web${user.avatar}`, import.meta.url));
    assert(svg.startsWith("<svg") && svg.includes(user.username[0]), user.avatar);
  }
});

Deno.test("loadDirectory: an array or {users}, integer ids as strings, extra fields ignored", async () => {
  const users = [{ id: 1001, username: "张三", avatar: "/a.svg", status: "online" }];
  const expected: DirectoryUser[] = [{ id: "1001", username: "张三", avatar: "/a.svg" }];
  for (const content of [JSON.stringify(users), JSON.stringify({ users })]) {
    await withTempFile(content, async (path) => {
      const directory = await loadDirectory(path);
      assertEquals(directory.list(), expected);
      assertEquals(directory.get("1001"), expected[0]);
      assertEquals(directory.get("1002"), undefined);
    });
  }
});

Deno.test("loadDirectory: a duplicate id is an error naming the id and the file", async () => {
  const { path, message } = await loadError(JSON.stringify([zhang, { ...zhang, id: 1001 }]));
  assertEquals(message, `users file ${path}: duplicate user id "1001" (users[0] and users[1])`);
});

Deno.test("loadDirectory: invalid entries are errors naming the file and the entry", async () => {
  const cases: [unknown, string][] = [
    [[zhang, { ...zhang, id: "10 01" }], 'users[1].id "10 01" must be 1-64 characters'],
    [[{ ...zhang, id: "x".repeat(65) }], "users[0].id"],
    [[{ ...zhang, id: 1.5 }], "users[0].id must be a string or an integer"],
    [[{ ...zhang, id: undefined }], "users[0].id must be a string or an integer"],
    [[{ ...zhang, username: "" }], "users[0].username must be a non-empty string"],
    [[{ ...zhang, avatar: undefined }], "users[0].avatar must be a non-empty string"],
    [[{ ...zhang, avatar: "javascript:alert(1)" }], "users[0].avatar must be an http(s)"],
    [[{ ...zhang, sign: 3 }], "users[0].sign must be a string"],
    [["1001"], "users[0] must be an object"],
  ];
  for (const [users, expected] of cases) {
    const { path, message } = await loadError(JSON.stringify(users));
    assert(message.startsWith(`users file ${path}: ${expected}`), message);
  }
});

Deno.test("loadDirectory: bad JSON, bad shape and unreadable files name the file", async () => {
  let error = await loadError("{");
  assertEquals(error.message, `users file ${error.path} is not valid JSON`);
  error = await loadError('{"people":[]}');
  assertEquals(
    error.message,
    `users file ${error.path} must hold an array of users or {"users": [...]}`,
  );
  const missing = await assertRejects(() => loadDirectory("/nonexistent/users.json"));
  assertEquals(
    (missing as Error).message,
    "cannot read users file /nonexistent/users.json: no such file",
  );
});

Deno.test("createDirectory: validates and lists copies", () => {
  const directory = createDirectory([zhang]);
  directory.list().pop();
  assertEquals(directory.list().length, 1);
  assertThrows(() => createDirectory([zhang, zhang]));
  assertThrows(() => createDirectory([{ ...zhang, id: "" }]));
});
