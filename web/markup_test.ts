import { assertEquals } from "@std/assert";
import { FACES, plainText, safeUrl, tokenize } from "./markup.js";

const BASE = "http://127.0.0.1:8080/?id=1001";

Deno.test("safeUrl keeps http(s) and relative URLs only", () => {
  assertEquals(safeUrl("https://layui.dev/a?b=1", BASE), "https://layui.dev/a?b=1");
  assertEquals(safeUrl("/avatars/1001.svg", BASE), "http://127.0.0.1:8080/avatars/1001.svg");
  assertEquals(safeUrl("pic.png", BASE), "http://127.0.0.1:8080/pic.png");
  for (
    const bad of [
      "javascript:alert(1)",
      " JavaScript:alert(1)",
      "java\tscript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:msgbox(1)",
      "blob:http://127.0.0.1:8080/x",
      "http://[bad",
    ]
  ) {
    assertEquals(safeUrl(bad, BASE), null, bad);
  }
});

Deno.test("tokenize turns the LayIM subset into tokens and leaves the rest as text", () => {
  assertEquals(
    tokenize("hi face[微笑]\nimg[/a.png] a(https://x.dev)[x] file(/f.zip)[报告]", BASE),
    [
      { kind: "text", text: "hi " },
      { kind: "face", name: "微笑", emoji: "🙂" },
      { kind: "br" },
      { kind: "img", src: "http://127.0.0.1:8080/a.png" },
      { kind: "text", text: " " },
      { kind: "a", href: "https://x.dev/", text: "x" },
      { kind: "text", text: " " },
      { kind: "file", href: "http://127.0.0.1:8080/f.zip", name: "报告" },
    ],
  );
  for (
    const literal of [
      "a(javascript:alert(1))[x]",
      "img[javascript:alert(1)]",
      "file(data:text/html,x)[f]",
      "face[不存在]",
      "<img src=x onerror=alert(1)>",
      "[div onclick=alert(1)]x[/div]",
    ]
  ) {
    assertEquals(tokenize(literal, BASE), [{ kind: "text", text: literal }]);
  }
  assertEquals(tokenize("a(/x)[]", BASE), [{
    kind: "a",
    href: "http://127.0.0.1:8080/x",
    text: "/x",
  }]);
});

Deno.test("plain http(s) URLs become links by the a(url)[text] rules", () => {
  assertEquals(tokenize("看 https://layui.dev/docs?a=1。还有 http://x.dev/a).", BASE), [
    { kind: "text", text: "看 " },
    { kind: "a", href: "https://layui.dev/docs?a=1", text: "https://layui.dev/docs?a=1" },
    { kind: "text", text: "。还有 " },
    { kind: "a", href: "http://x.dev/a", text: "http://x.dev/a" },
    { kind: "text", text: ")." },
  ]);
  for (const literal of ["javascript:alert(1)", "ftp://x.dev/a", "www.layui.dev", "http://"]) {
    assertEquals(tokenize(literal, BASE), [{ kind: "text", text: literal }]);
  }
});

Deno.test("all 72 of LayIM's faces, in LayIM's order", () => {
  assertEquals(FACES.length, 72);
  assertEquals(FACES[0][0], "微笑");
  assertEquals(FACES[71][0], "蛋糕");
  for (
    const name of ["右哼哼", "左哼哼", "黑线", "互粉", "草泥马", "神马", "给力", "威武", "奥特曼"]
  ) {
    assertEquals(tokenize(`face[${name}]`, BASE)[0].kind, "face", name);
  }
});

Deno.test("plainText previews content in one line", () => {
  assertEquals(
    plainText("你好 face[微笑]\nimg[/a.png] a(https://x.dev)[链接] file(/f.zip)[报告]", BASE),
    "你好 [微笑] [图片] 链接 [文件] 报告",
  );
});
