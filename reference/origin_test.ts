import { assertEquals } from "@std/assert";
import { hostForUrl, hostName, hostPolicy, isLoopback, originPolicy } from "./origin.ts";

Deno.test("isLoopback: localhost, ::1 and 127.0.0.0/8 only", () => {
  const hosts = {
    "localhost": true,
    "127.0.0.1": true,
    "127.1.2.3": true,
    "::1": true,
    "0.0.0.0": false,
    "::": false,
    "192.168.1.5": false,
    "chat.example.com": false,
  };
  for (const [host, loopback] of Object.entries(hosts)) assertEquals(isLoopback(host), loopback);
});

Deno.test("hostForUrl: wildcards reach loopback, IPv6 is bracketed", () => {
  assertEquals(
    ["0.0.0.0", "::", "::1", "fe80::1", "10.0.0.2", "localhost"].map(hostForUrl),
    ["127.0.0.1", "[::1]", "[::1]", "[fe80::1]", "10.0.0.2", "localhost"],
  );
});

Deno.test("origin policy: by default the relay's own http origins on loopback and its address", () => {
  const own = originPolicy({ allowNoOrigin: true, hostname: "10.0.0.2", port: 8080 });
  for (const host of ["127.0.0.1", "localhost", "[::1]", "10.0.0.2"]) {
    assertEquals(own.allows(`http://${host}:8080`), true, host);
  }
  for (
    const origin of ["http://127.0.0.1:8081", "https://127.0.0.1:8080", "https://evil.example"]
  ) {
    assertEquals(own.allows(origin), false, origin);
  }
  assertEquals(own.allows(null), true);
  const wildcard = originPolicy({ allowNoOrigin: false, hostname: "0.0.0.0", port: 80 });
  assertEquals([wildcard.allows("http://127.0.0.1:80"), wildcard.allows(null)], [true, false]);
});

Deno.test("origin policy: listed origins are allowed besides the own ones; * allows any", () => {
  const listed = originPolicy({
    origins: ["https://chat.example"],
    allowNoOrigin: false,
    hostname: "127.0.0.1",
    port: 8080,
  });
  assertEquals(
    [listed.allows("https://chat.example"), listed.allows("http://127.0.0.1:8080")],
    [true, true],
  );
  assertEquals(listed.allows("https://evil.example"), false);
  const any = originPolicy({ origins: ["*"], allowNoOrigin: true, hostname: "::1", port: 1 });
  assertEquals(any.allows("https://any.example"), true);
});

Deno.test("host names: port, case and a trailing dot do not matter", () => {
  assertEquals(
    ["Chat.Example.com:8080", "localhost.", "[::1]:80", "[fe80::1%25eth0]", "10.0.0.2"].map(
      hostName,
    ),
    ["chat.example.com", "localhost", "[::1]", "[fe80::1%25eth0]", "10.0.0.2"],
  );
});

Deno.test("host policy: loopback, IP addresses, the bound name, the origins' hosts and the names", () => {
  const hosts = hostPolicy({
    hostname: "relay.internal",
    origins: ["https://chat.example.com", "*"],
    names: ["ws.example.com"],
  });
  for (
    const host of [
      "localhost:1",
      "127.0.0.1:8080",
      "192.168.1.5",
      "[::1]:8080",
      "relay.internal:8080",
      "chat.example.com",
      "WS.example.com:443",
      null,
    ]
  ) assertEquals(hosts.allows(host), true, String(host));
  for (const host of ["evil.example", "chat.example.com.evil.example", "1.2.3.4.nip.io", ""]) {
    assertEquals(hosts.allows(host), false, host);
  }
  assertEquals(hostPolicy({ hostname: "0.0.0.0", names: ["*"] }).allows("any.example"), true);
});
