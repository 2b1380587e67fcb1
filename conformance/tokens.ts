/**
 * Tokens for the run's users: none, two fixed tokens (`--token-a/--token-b`), or HS256 tokens
 * minted per random user from a shared secret (`--jwt-secret`), with refused variants.
 *
 * @module
 */
import { decodeJwt, SignJWT } from "jose";

/** Where tokens for the run's users come from. */
export interface TokenSource {
  /**
   * The token for `user`, or `undefined` when the run uses no tokens. With `friends`, a token
   * that can be minted names them in its `friends` claim (whom the user may watch, PRES-8).
   */
  tokenFor(user: string, friends?: readonly string[]): Promise<string | undefined>;
  /** Whether {@linkcode tokenFor} can put a `friends` claim in tokens (minted tokens). */
  readonly mintsFriends?: boolean;
  /** Fixed users (from `--token-a/--token-b`): the case must use these ids, in order. */
  readonly fixedUsers?: readonly string[];
  /** Mints a refused token of `kind` for `user`; absent when the run cannot mint tokens. */
  badToken?(user: string, kind: BadTokenKind): Promise<string>;
}

/**
 * The kinds of bad token a run with a secret can mint; `bad-friends` is signed and valid but
 * for its `friends` claim, which is not an array of ids (PRES-9).
 */
export type BadTokenKind = "wrong-key" | "expired" | "alg-none" | "other-sub" | "bad-friends";

/** No tokens: the server under test does not verify any. */
export const NO_TOKENS: TokenSource = { tokenFor: () => Promise.resolve(undefined) };

function sign(secret: string, claims: Record<string, unknown>, sub: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .sign(new TextEncoder().encode(secret));
}

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Mints an HS256 token (`sub` = user, one hour) per user, and refused variants for the token case. */
export function secretTokens(secret: string): TokenSource {
  const now = () => Math.floor(Date.now() / 1000);
  const cache = new Map<string, Promise<string>>();
  return {
    mintsFriends: true,
    tokenFor(user, friends) {
      if (friends) return sign(secret, { iat: now(), exp: now() + 3600, friends }, user);
      let token = cache.get(user);
      if (!token) {
        token = sign(secret, { iat: now(), exp: now() + 3600 }, user);
        cache.set(user, token);
      }
      return token;
    },
    badToken(user: string, kind: BadTokenKind) {
      switch (kind) {
        case "wrong-key":
          return sign(`${secret}-wrong`, { iat: now(), exp: now() + 3600 }, user);
        case "expired":
          return sign(secret, { iat: now() - 7200, exp: now() - 3600 }, user);
        case "other-sub":
          return sign(secret, { iat: now(), exp: now() + 3600 }, `${user}-other`);
        case "bad-friends":
          return sign(secret, { iat: now(), exp: now() + 3600, friends: "everyone" }, user);
        case "alg-none":
          return Promise.resolve(
            `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: user, exp: now() + 3600 })}.`,
          );
      }
    },
  };
}

/** Fixed tokens: their `sub` claims are the users the cases must use, in order. */
export function fixedTokens(tokens: string[]): TokenSource {
  const bySub = new Map<string, string>();
  for (const token of tokens) {
    let sub: unknown;
    try {
      sub = decodeJwt(token).sub;
    } catch {
      throw new Error("a --token-a/--token-b value is not a JWT");
    }
    if (typeof sub !== "string" || sub === "") throw new Error("a token has no sub claim");
    bySub.set(sub, token);
  }
  return {
    fixedUsers: [...bySub.keys()],
    tokenFor: (user) => Promise.resolve(bySub.get(user)),
  };
}
