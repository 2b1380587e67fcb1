/**
 * JWT authentication for identify (v1 `token`) and the legacy `?token=` query parameter.
 *
 * A token is accepted only when it is signed with one of the configured algorithms (HS256 for a
 * shared secret; RS256, ES256 or EdDSA for a JWKS of public keys), so `alg: none` and algorithm
 * confusion are refused. `exp` and `nbf` are honoured with a clock tolerance of
 * {@linkcode CLOCK_TOLERANCE_SECONDS} seconds, and a token without `exp` is refused unless the
 * {@linkcode TokenPolicy} allows it: such a token is a password that never expires, and one
 * copy in a proxy log (`?token=`) is enough. Errors carry a short reason and never the token.
 *
 * ```ts
 * import { SignJWT } from "jose";
 * import { hs256Authenticator } from "./auth.ts";
 * const secret = "a long random secret";
 * const token = await new SignJWT({ sub: "1001", name: "张三" })
 *   .setProtectedHeader({ alg: "HS256" })
 *   .setExpirationTime("1h")
 *   .sign(new TextEncoder().encode(secret));
 * const identity = await hs256Authenticator(secret).verify(token); // { sub: "1001", name: "张三" }
 * ```
 *
 * @module
 */
import { createLocalJWKSet, errors, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from "jose";
import { normalizeId, validateLegacyId } from "../schemas/validate.ts";
import { readConfigFile } from "./files.ts";

/**
 * Who a valid token names: `sub` is the user id; `name` and `avatar` become display fields;
 * `friends`, the users it may watch (presence, PRES-8).
 */
export interface Identity {
  sub: string;
  name?: string;
  avatar?: string;
  friends?: string[];
}

/** Verifies a token; rejects with {@linkcode AuthError} when it must be refused. */
export interface Authenticator {
  verify(token: string): Promise<Identity>;
}

/** Why a token was refused. */
export type AuthReason =
  | "expired"
  | "not yet valid"
  | "bad signature"
  | "unsupported algorithm"
  | "missing sub"
  | "missing exp"
  | "malformed";

/** A refused token. `message` is the reason alone, safe to log and to send to the client. */
export class AuthError extends Error {
  /** The reason the token was refused. */
  readonly reason: AuthReason;

  /** Creates an error for `reason`. */
  constructor(reason: AuthReason) {
    super(reason);
    this.name = "AuthError";
    this.reason = reason;
  }
}

/** Seconds of clock skew allowed between the token issuer and the relay for `exp` and `nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 5;

const JWKS_ALGORITHMS = ["RS256", "ES256", "EdDSA"];

function reasonFor(error: unknown): AuthReason {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "exp" && error.reason === "missing") return "missing exp";
    return error.claim === "nbf" && error.reason === "check_failed" ? "not yet valid" : "malformed";
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "unsupported algorithm";
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys
  ) return "bad signature";
  return "malformed";
}

/** A `friends` claim as ids; one that is not an array of valid ids makes the token malformed (PRES-9). */
function friendsOf(claim: unknown): string[] {
  const valid = Array.isArray(claim) &&
    claim.every((id) =>
      (typeof id === "string" || Number.isSafeInteger(id)) &&
      validateLegacyId(normalizeId(id)).ok
    );
  if (!valid) throw new AuthError("malformed");
  return (claim as (string | number)[]).map(normalizeId);
}

function identityOf(payload: JWTPayload): Identity {
  const { sub, name, avatar } = payload;
  if (typeof sub !== "string" || sub === "") throw new AuthError("missing sub");
  const identity: Identity = { sub };
  if (typeof name === "string" && name !== "") identity.name = name;
  if (typeof avatar === "string" && avatar !== "") identity.avatar = avatar;
  if (payload.friends !== undefined) identity.friends = friendsOf(payload.friends);
  return identity;
}

/** What a token must carry besides a valid signature and `sub`. */
export interface TokenPolicy {
  /** Refuse tokens without an `exp` claim (default true). */
  requireExp?: boolean;
}

function authenticator(
  getKey: JWTVerifyGetKey,
  algorithms: string[],
  policy: TokenPolicy,
): Authenticator {
  const options = {
    algorithms,
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    requiredClaims: policy.requireExp === false ? [] : ["exp"],
  };
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, options));
      } catch (error) {
        throw new AuthError(reasonFor(error));
      }
      return identityOf(payload);
    },
  };
}

/** An authenticator for HS256 tokens signed with a shared secret (a string is UTF-8 encoded). */
export function hs256Authenticator(
  secret: Uint8Array | string,
  policy: TokenPolicy = {},
): Authenticator {
  const key = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  if (key.length === 0) throw new Error("the JWT secret is empty");
  return authenticator(() => key, ["HS256"], policy);
}

/** An authenticator for RS256, ES256 or EdDSA tokens verified with a set of public keys. */
export function jwksAuthenticator(
  jwks: { keys: JsonWebKey[] },
  policy: TokenPolicy = {},
): Authenticator {
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) {
    throw new Error('a JWKS must be an object {"keys": [...]} with at least one key');
  }
  for (const key of jwks.keys) {
    // A private or symmetric key here means a secret was published by mistake: refuse to run.
    if (typeof key !== "object" || key === null || "d" in key || key.kty === "oct") {
      throw new Error("a JWKS must hold public keys only (RSA, EC or OKP, without private parts)");
    }
  }
  return authenticator(createLocalJWKSet(jwks), JWKS_ALGORITHMS, policy);
}

/** Where the relay's token keys come from (at most one of the three), and its token policy. */
export interface AuthSources extends TokenPolicy {
  /** The HS256 secret itself (prefer `jwtSecretFile`: command lines and environments leak). */
  jwtSecret?: string;
  /** A file holding the HS256 secret; one trailing newline is ignored. */
  jwtSecretFile?: string;
  /** A JSON file `{"keys": [...]}` of public keys. */
  jwksFile?: string;
}

function withoutTrailingNewline(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  if (bytes[end - 1] === 0x0a) end--;
  if (bytes[end - 1] === 0x0d) end--;
  return bytes.subarray(0, end);
}

/**
 * Builds the authenticator the configuration asks for, or `undefined` when none is configured.
 * Rejects with a one-line `Error` naming the file when a file is unreadable or invalid, or when
 * more than one source is given.
 */
export async function loadAuthenticator(o: AuthSources): Promise<Authenticator | undefined> {
  const given = [o.jwtSecret, o.jwtSecretFile, o.jwksFile].filter((v) => v !== undefined);
  if (given.length > 1) {
    throw new Error("choose one of a JWT secret, a JWT secret file or a JWKS file, not several");
  }
  const policy = { requireExp: o.requireExp };
  if (o.jwtSecret !== undefined) return hs256Authenticator(o.jwtSecret, policy);
  if (o.jwtSecretFile !== undefined) {
    const secret = withoutTrailingNewline(await readConfigFile(o.jwtSecretFile, "JWT secret file"));
    if (secret.length === 0) throw new Error(`JWT secret file ${o.jwtSecretFile} is empty`);
    return hs256Authenticator(secret, policy);
  }
  if (o.jwksFile !== undefined) {
    const text = new TextDecoder().decode(await readConfigFile(o.jwksFile, "JWKS file"));
    let jwks: { keys: JsonWebKey[] };
    try {
      jwks = JSON.parse(text);
    } catch {
      throw new Error(`JWKS file ${o.jwksFile} is not valid JSON`);
    }
    try {
      return jwksAuthenticator(jwks, policy);
    } catch (error) {
      throw new Error(`JWKS file ${o.jwksFile}: ${(error as Error).message}`);
    }
  }
  return undefined;
}
