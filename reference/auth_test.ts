import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import {
  AuthError,
  type AuthReason,
  hs256Authenticator,
  jwksAuthenticator,
  loadAuthenticator,
} from "./auth.ts";

const SECRET = "a-test-secret-of-at-least-32-bytes!";
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>, secret = key): Promise<string> {
  return new SignJWT({ exp: now() + 60, ...claims }).setProtectedHeader({ alg: "HS256" })
    .sign(secret);
}

function base64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  const error = await assertRejects(fn);
  assert(error instanceof Error, `expected an Error, got ${error}`);
  return error;
}

async function refusal(promise: Promise<unknown>): Promise<AuthReason> {
  const error = await rejection(() => promise);
  assert(error instanceof AuthError, `expected an AuthError, got ${error}`);
  return error.reason;
}

Deno.test("hs256: a valid token yields its sub", async () => {
  const auth = hs256Authenticator(SECRET);
  assertEquals(await auth.verify(await hs256({ sub: "1001", exp: now() + 60 })), { sub: "1001" });
});

Deno.test("hs256: name and avatar claims become display fields", async () => {
  const auth = hs256Authenticator(key);
  const token = await hs256({ sub: "1001", name: "张三", avatar: "/avatars/1001.svg", extra: 1 });
  assertEquals(await auth.verify(token), {
    sub: "1001",
    name: "张三",
    avatar: "/avatars/1001.svg",
  });
});

Deno.test("hs256: a friends claim becomes the ids this user may watch; a bad one is malformed", async () => {
  const auth = hs256Authenticator(key);
  assertEquals(await auth.verify(await hs256({ sub: "1001", friends: ["1002", 1003] })), {
    sub: "1001",
    friends: ["1002", "1003"],
  });
  assertEquals((await auth.verify(await hs256({ sub: "1001", friends: [] }))).friends, []);
  for (const friends of ["1002", ["10 02"], [1.5], [null], { a: 1 }]) {
    assertEquals(await refusal(auth.verify(await hs256({ sub: "1001", friends }))), "malformed");
  }
});

Deno.test("hs256: non-string name and avatar claims are ignored", async () => {
  const auth = hs256Authenticator(key);
  assertEquals(await auth.verify(await hs256({ sub: "1001", name: 7, avatar: {} })), {
    sub: "1001",
  });
});

Deno.test("hs256: an expired token is refused", async () => {
  const auth = hs256Authenticator(key);
  assertEquals(
    await refusal(auth.verify(await hs256({ sub: "1001", exp: now() - 60 }))),
    "expired",
  );
});

Deno.test("hs256: a token expired within the clock tolerance is accepted", async () => {
  const auth = hs256Authenticator(key);
  assertEquals(await auth.verify(await hs256({ sub: "1001", exp: now() - 2 })), { sub: "1001" });
});

Deno.test("hs256: a token not valid before a future time is refused", async () => {
  const auth = hs256Authenticator(key);
  const token = await hs256({ sub: "1001", nbf: now() + 60 });
  assertEquals(await refusal(auth.verify(token)), "not yet valid");
});

Deno.test("hs256: a token signed with another key is refused", async () => {
  const auth = hs256Authenticator(key);
  const token = await hs256({ sub: "1001" }, new TextEncoder().encode("another secret entirely"));
  assertEquals(await refusal(auth.verify(token)), "bad signature");
});

Deno.test("hs256: an unsigned alg none token is refused", async () => {
  const auth = hs256Authenticator(key);
  const token = `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ sub: "1001" })}.`;
  assertEquals(await refusal(auth.verify(token)), "unsupported algorithm");
});

Deno.test("hs256: a token without sub is refused", async () => {
  const auth = hs256Authenticator(key);
  assertEquals(await refusal(auth.verify(await hs256({ name: "张三" }))), "missing sub");
  assertEquals(await refusal(auth.verify(await hs256({ sub: "" }))), "missing sub");
});

Deno.test("hs256: garbage is malformed and the error never contains the token", async () => {
  const auth = hs256Authenticator(key);
  const token = "not-a-jwt-secret-looking-value";
  assertEquals(await refusal(auth.verify(token)), "malformed");
  const error = await rejection(() => auth.verify(token));
  assertEquals(error.message, "malformed");
});

Deno.test("hs256: an empty secret is a configuration error", () => {
  const error = assertThrows(() => hs256Authenticator(""));
  assertEquals((error as Error).message, "the JWT secret is empty");
});

Deno.test("jwks: an ES256 token verifies with its public key", async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const auth = jwksAuthenticator({ keys: [await exportJWK(publicKey)] });
  const token = await new SignJWT({ sub: "1002", name: "李四" })
    .setProtectedHeader({ alg: "ES256" }).setExpirationTime("1m").sign(privateKey);
  assertEquals(await auth.verify(token), { sub: "1002", name: "李四" });
});

Deno.test("jwks: a token signed by a key outside the set is refused", async () => {
  const trusted = await generateKeyPair("ES256");
  const other = await generateKeyPair("ES256");
  const auth = jwksAuthenticator({ keys: [await exportJWK(trusted.publicKey)] });
  const token = await new SignJWT({ sub: "1002", exp: now() + 60 }).setProtectedHeader({
    alg: "ES256",
  })
    .sign(other.privateKey);
  assertEquals(await refusal(auth.verify(token)), "bad signature");
});

Deno.test("jwks: an HS256 token is refused by a public-key verifier", async () => {
  const { publicKey } = await generateKeyPair("ES256");
  const auth = jwksAuthenticator({ keys: [await exportJWK(publicKey)] });
  assertEquals(await refusal(auth.verify(await hs256({ sub: "1001" }))), "unsupported algorithm");
});

Deno.test("jwks: EdDSA and RS256 keys are accepted", async () => {
  for (const alg of ["EdDSA", "RS256"]) {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    const auth = jwksAuthenticator({ keys: [await exportJWK(publicKey)] });
    const token = await new SignJWT({ sub: "1003", exp: now() + 60 }).setProtectedHeader({ alg })
      .sign(privateKey);
    assertEquals(await auth.verify(token), { sub: "1003" }, alg);
  }
});

Deno.test("jwks: private or symmetric keys and empty sets are refused", async () => {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const bad = [
    { keys: [] },
    { keys: [await exportJWK(privateKey)] },
    { keys: [{ kty: "oct", k: "c2VjcmV0" }] },
  ];
  for (const jwks of bad) {
    assertThrows(() => jwksAuthenticator(jwks), JSON.stringify(jwks.keys[0]?.kty));
  }
});

async function withTempFile(
  content: string | Uint8Array,
  fn: (path: string) => Promise<void>,
): Promise<void> {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(
      path,
      typeof content === "string" ? new TextEncoder().encode(content) : content,
    );
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("loadAuthenticator: nothing configured means no auth", async () => {
  assertEquals(await loadAuthenticator({}), undefined);
});

Deno.test("loadAuthenticator: a secret file's trailing newline is not part of the secret", async () => {
  await withTempFile(`${SECRET}\n`, async (path) => {
    const auth = await loadAuthenticator({ jwtSecretFile: path });
    assertEquals(await auth!.verify(await hs256({ sub: "1001" })), { sub: "1001" });
  });
});

Deno.test("loadAuthenticator: a JWKS file", async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  await withTempFile(JSON.stringify({ keys: [await exportJWK(publicKey)] }), async (path) => {
    const auth = await loadAuthenticator({ jwksFile: path });
    const token = await new SignJWT({ sub: "1004", exp: now() + 60 }).setProtectedHeader({
      alg: "ES256",
    })
      .sign(privateKey);
    assertEquals(await auth!.verify(token), { sub: "1004" });
  });
});

Deno.test("loadAuthenticator: an unreadable file is a one-line error naming it", async () => {
  const path = "/nonexistent/layim-ws/secret";
  const error = await rejection(() => loadAuthenticator({ jwtSecretFile: path }));
  assertEquals(error.message, `cannot read JWT secret file ${path}: no such file`);
  const error2 = await rejection(() => loadAuthenticator({ jwksFile: path }));
  assertEquals(error2.message, `cannot read JWKS file ${path}: no such file`);
});

Deno.test("loadAuthenticator: invalid files are errors naming them", async () => {
  await withTempFile("\n", async (path) => {
    const error = await rejection(() => loadAuthenticator({ jwtSecretFile: path }));
    assertEquals(error.message, `JWT secret file ${path} is empty`);
  });
  await withTempFile("{nope", async (path) => {
    const error = await rejection(() => loadAuthenticator({ jwksFile: path }));
    assertEquals(error.message, `JWKS file ${path} is not valid JSON`);
  });
  await withTempFile('{"keys":[]}', async (path) => {
    const error = await rejection(() => loadAuthenticator({ jwksFile: path }));
    assertStringIncludes(error.message, `JWKS file ${path}: `);
  });
});

Deno.test("loadAuthenticator: a secret and a JWKS together are refused", async () => {
  const error = await rejection(() =>
    loadAuthenticator({ jwtSecret: SECRET, jwksFile: "/tmp/jwks.json" })
  );
  assertStringIncludes(error.message, "choose one of");
});

Deno.test("a token without exp is refused by default (a credential valid forever), accepted when allowed", async () => {
  const forever = await new SignJWT({ sub: "1001" }).setProtectedHeader({ alg: "HS256" }).sign(key);
  assertEquals(await refusal(hs256Authenticator(SECRET).verify(forever)), "missing exp");
  const lenient = hs256Authenticator(SECRET, { requireExp: false });
  assertEquals(await lenient.verify(forever), { sub: "1001" });
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), alg: "ES256" }] };
  const signed = await new SignJWT({ sub: "1002" }).setProtectedHeader({ alg: "ES256" })
    .sign(privateKey);
  assertEquals(await refusal(jwksAuthenticator(jwks).verify(signed)), "missing exp");
  assertEquals(await jwksAuthenticator(jwks, { requireExp: false }).verify(signed), {
    sub: "1002",
  });
});
