// @ts-check
/// <reference lib="dom" />
/**
 * Safe rendering of LayIM message content. Content is never parsed as HTML: plain text
 * becomes text nodes, and only the LayIM markup subset below becomes elements, built with
 * DOM APIs:
 *
 * - `face[微笑]` → an emoji standing for the LayIM face (unknown names stay text);
 * - `img[url]` → `<img>`;
 * - `a(url)[text]` → a link opening in a new tab (`rel="noopener noreferrer"`);
 * - `file(url)[name]` → a download link;
 * - a plain `http://` or `https://` URL in the text → a link, by the same rules as `a(url)[text]`;
 * - newlines → `<br>`.
 *
 * URLs must resolve to `http:` or `https:` (absolute, or relative to the page); anything
 * else (`javascript:`, `data:`, …) leaves the whole token as literal text.
 *
 * @module
 */

/**
 * LayIM's 72 faces in LayIM's order (the order of its face picker), shown as emoji because
 * LayIM's face images are not open source.
 */
export const FACES = Object.freeze(
  /** @type {[string, string][]} */ ([
    ["微笑", "🙂"],
    ["嘻嘻", "😄"],
    ["哈哈", "😆"],
    ["可爱", "😊"],
    ["可怜", "🥺"],
    ["挖鼻", "🤏"],
    ["吃惊", "😲"],
    ["害羞", "☺️"],
    ["挤眼", "😉"],
    ["闭嘴", "🤐"],
    ["鄙视", "😒"],
    ["爱你", "😍"],
    ["泪", "😢"],
    ["偷笑", "🤭"],
    ["亲亲", "😘"],
    ["生病", "🤒"],
    ["太开心", "😁"],
    ["白眼", "🙄"],
    ["右哼哼", "😤"],
    ["左哼哼", "😮‍💨"],
    ["嘘", "🤫"],
    ["衰", "😩"],
    ["委屈", "😞"],
    ["吐", "🤮"],
    ["哈欠", "🥱"],
    ["抱抱", "🤗"],
    ["怒", "😠"],
    ["疑问", "❓"],
    ["馋嘴", "🤤"],
    ["拜拜", "👋"],
    ["思考", "🤔"],
    ["汗", "😓"],
    ["困", "😪"],
    ["睡", "😴"],
    ["钱", "🤑"],
    ["失望", "😔"],
    ["酷", "😎"],
    ["色", "😻"],
    ["哼", "😾"],
    ["鼓掌", "👏"],
    ["晕", "😵"],
    ["悲伤", "😥"],
    ["抓狂", "😫"],
    ["黑线", "😑"],
    ["阴险", "😏"],
    ["怒骂", "🤬"],
    ["互粉", "🤝"],
    ["心", "❤️"],
    ["伤心", "💔"],
    ["猪头", "🐷"],
    ["熊猫", "🐼"],
    ["兔子", "🐰"],
    ["ok", "👌"],
    ["耶", "✌️"],
    ["good", "👍"],
    ["NO", "🙅"],
    ["赞", "💯"],
    ["来", "🫴"],
    ["弱", "👎"],
    ["草泥马", "🦙"],
    ["神马", "🐴"],
    ["囧", "😳"],
    ["浮云", "☁️"],
    ["给力", "💪"],
    ["围观", "👀"],
    ["威武", "🦁"],
    ["奥特曼", "🦸"],
    ["礼物", "🎁"],
    ["钟", "⏰"],
    ["话筒", "🎤"],
    ["蜡烛", "🕯️"],
    ["蛋糕", "🎂"],
  ]),
);

const FACE_EMOJI = new Map(FACES);

/**
 * A piece of message content: literal text, a line break, or one markup element.
 * @typedef {{ kind: "text", text: string }
 *   | { kind: "br" }
 *   | { kind: "face", name: string, emoji: string }
 *   | { kind: "img", src: string }
 *   | { kind: "a", href: string, text: string }
 *   | { kind: "file", href: string, name: string }} Token
 */

const TOKEN = /face\[([^\][\n]+)\]|img\[([^\][\s]+)\]|(a|file)\(([^()\s]+)\)\[([^\][\n]*)\]|\r?\n/g;

/**
 * The URL as an absolute `http:`/`https:` href, or `null` when it is anything else.
 * @param {string} raw
 * @param {string} base the page URL relative URLs resolve against
 * @returns {string | null}
 */
export function safeUrl(raw, base) {
  let url;
  try {
    url = new URL(raw, base);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}

/**
 * Splits content into tokens; unsafe or unknown markup stays literal text.
 * @param {string} content
 * @param {string} base the page URL relative URLs resolve against
 * @returns {Token[]}
 */
export function tokenize(content, base) {
  /** @type {Token[]} */
  const tokens = [];
  let text = "";
  let last = 0;
  for (const m of content.matchAll(TOKEN)) {
    text += content.slice(last, m.index);
    last = m.index + m[0].length;
    const token = toToken(m, base);
    if (token) {
      if (text) tokens.push({ kind: "text", text });
      text = "";
      tokens.push(token);
    } else {
      text += m[0];
    }
  }
  text += content.slice(last);
  if (text) tokens.push({ kind: "text", text });
  return tokens.flatMap((t) => t.kind === "text" ? linkify(t.text) : [t]);
}

/** A plain URL: up to white space, quotes, angle brackets or CJK punctuation. */
const PLAIN_URL = /https?:\/\/[^\s<>"'\u3000-\u303f\uff00-\uffef]+/gi;
/** Punctuation that ends a sentence rather than the URL before it. */
const TRAILING = /[.,;:!?'")\]}]+$/;

/**
 * Splits plain text around the `http(s)` URLs in it, each becoming a link token.
 * @param {string} text
 * @returns {Token[]}
 */
function linkify(text) {
  /** @type {Token[]} */
  const tokens = [];
  let last = 0;
  for (const m of text.matchAll(PLAIN_URL)) {
    const url = m[0].replace(TRAILING, "");
    const href = safeUrl(url, "http://invalid/");
    if (!href || !/^https?:\/\//i.test(url)) continue;
    if (m.index > last) tokens.push({ kind: "text", text: text.slice(last, m.index) });
    tokens.push({ kind: "a", href, text: url });
    last = m.index + url.length;
  }
  if (last < text.length) tokens.push({ kind: "text", text: text.slice(last) });
  return tokens;
}

/**
 * Content as one line of plain text, for previews and notifications: faces as `[微笑]`,
 * images as `[图片]`, files as `[文件] name`, links as their text.
 * @param {string} content
 * @param {string} base
 */
export function plainText(content, base) {
  return tokenize(content, base).map((t) => {
    switch (t.kind) {
      case "text":
        return t.text;
      case "br":
        return " ";
      case "face":
        return `[${t.name}]`;
      case "img":
        return "[图片]";
      case "a":
        return t.text;
      case "file":
        return `[文件] ${t.name}`;
    }
  }).join("");
}

/**
 * @param {RegExpMatchArray} m
 * @param {string} base
 * @returns {Token | null}
 */
function toToken(m, base) {
  const [whole, face, img, kind, url, label] = m;
  if (face !== undefined) {
    const emoji = FACE_EMOJI.get(face);
    return emoji ? { kind: "face", name: face, emoji } : null;
  }
  if (img !== undefined) {
    const src = safeUrl(img, base);
    return src ? { kind: "img", src } : null;
  }
  if (kind !== undefined) {
    const href = safeUrl(url, base);
    if (!href) return null;
    return kind === "a"
      ? { kind: "a", href, text: label || url }
      : { kind: "file", href, name: label || url };
  }
  return whole.endsWith("\n") ? { kind: "br" } : null;
}

/**
 * Renders content as DOM nodes (never as HTML).
 * @param {string} content
 * @param {Document} doc
 * @returns {DocumentFragment}
 */
export function renderContent(content, doc = document) {
  const fragment = doc.createDocumentFragment();
  for (const token of tokenize(content, doc.baseURI)) {
    fragment.append(tokenNode(token, doc));
  }
  return fragment;
}

/**
 * @param {Token} token
 * @param {Document} doc
 * @returns {Node}
 */
function tokenNode(token, doc) {
  switch (token.kind) {
    case "text":
      return doc.createTextNode(token.text);
    case "br":
      return doc.createElement("br");
    case "face": {
      const span = doc.createElement("span");
      span.className = "layim-face";
      span.setAttribute("role", "img");
      span.setAttribute("aria-label", token.name);
      span.title = token.name;
      span.textContent = token.emoji;
      return span;
    }
    case "img": {
      const img = doc.createElement("img");
      img.className = "layim-img";
      img.alt = "图片";
      img.loading = "lazy";
      img.src = token.src;
      return img;
    }
    case "a":
    case "file": {
      const a = doc.createElement("a");
      a.href = token.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      if (token.kind === "a") {
        a.textContent = token.text;
      } else {
        a.className = "layim-file";
        a.download = "";
        const icon = doc.createElement("i");
        icon.className = "layui-icon layui-icon-file";
        icon.setAttribute("aria-hidden", "true");
        a.append(icon, token.name);
      }
      return a;
    }
  }
}
