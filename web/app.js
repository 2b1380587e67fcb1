// @ts-check
/// <reference lib="dom" />
/// <reference path="./layui.d.ts" />
/**
 * The chat page's glue, shaped like the seed's front-end code: LayIM's `sendMessage` goes to
 * the relay, frames from the relay go to `layim.getMessage`. It only uses LayIM's public API,
 * so it runs unchanged with the real LayIM module.
 *
 * Who am I: `?id=` (and `?token=` when the relay requires auth; a token alone names its
 * `sub`); without either, a picker lists the relay's demo directory (GET /api/users).
 *
 * @module
 */
import { LayimClient } from "./client.js";
import { safeUrl } from "./markup.js";

/** @typedef {import("./layim.js").LayIM} LayIM */
/** @typedef {import("./layim.js").Person} Person */
/** @typedef {import("./layim.js").FriendGroup} FriendGroup */
/** @typedef {import("./client.js").ConnectionState} ConnectionState */
/** @typedef {{ id: string, username: string, avatar: string, sign?: string, group?: string }} DirectoryUser */

const STATE_TEXT = /** @type {const} */ ({
  connecting: "正在连接…",
  open: "已连接",
  reconnecting: "正在重连…",
  closed: "已断开",
});

/** System lines for refused messages, by v1 error code. */
const ERROR_TEXT = /** @type {Record<string, string>} */ ({
  rate_limited: "发送过于频繁，消息未送达",
  frame_too_large: "消息过长，未发送",
  sender_mismatch: "身份不符，消息未送达",
  invalid_frame: "消息格式有误，未送达",
});

const params = new URLSearchParams(location.search);
const token = params.get("token") ?? undefined;
const id = params.get("id") ?? (token ? tokenSubject(token) : null);
const users = await loadUsers();
if (id) {
  start(id);
} else {
  showPicker();
}

/** @returns {Promise<DirectoryUser[]>} */
async function loadUsers() {
  try {
    const response = await fetch("/api/users");
    if (!response.ok) return [];
    const body = await response.json();
    return Array.isArray(body?.users)
      ? body.users.map((/** @type {DirectoryUser} */ u) => ({ ...u, id: String(u.id) }))
      : [];
  } catch {
    return [];
  }
}

/** The `sub` claim of a JWT (read only to know who we are; the relay verifies it). @param {string} jwt */
function tokenSubject(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const sub = JSON.parse(atob(payload)).sub;
    return typeof sub === "string" && sub ? sub : null;
  } catch {
    return null;
  }
}

function showPicker() {
  const picker = /** @type {HTMLElement} */ (document.getElementById("picker"));
  const list = /** @type {HTMLElement} */ (picker.querySelector("ul"));
  for (const user of users) {
    const link = document.createElement("a");
    link.href = `?${new URLSearchParams({ id: user.id })}`;
    link.setAttribute("aria-label", user.username);
    link.className = "picker-user";
    const img = document.createElement("img");
    img.alt = "";
    const src = safeUrl(user.avatar, document.baseURI);
    if (src) img.src = src;
    const name = document.createElement("strong");
    name.textContent = user.username;
    const sign = document.createElement("span");
    sign.textContent = user.sign ?? "";
    link.append(img, name, sign);
    const item = document.createElement("li");
    item.append(link);
    list.append(item);
  }
  if (users.length === 0) {
    list.append(Object.assign(document.createElement("li"), {
      textContent: "没有用户目录：请在地址后加上 ?id=你的ID",
    }));
  }
  picker.hidden = false;
}

/** @param {string} myId */
function start(myId) {
  const me = users.find((u) => u.id === myId);
  /** @type {Person} */
  const mine = me ?? { id: myId, username: myId, avatar: "" };
  /** @type {Map<string, FriendGroup>} */
  const groups = new Map();
  for (const user of users) {
    if (user.id === myId) continue;
    const groupname = user.group ?? "我的好友";
    if (!groups.has(groupname)) groups.set(groupname, { groupname, id: groups.size + 1, list: [] });
    groups.get(groupname)?.list.push(user);
  }
  const status = /** @type {HTMLElement} */ (document.getElementById("connection"));
  status.hidden = false;
  const who = /** @type {HTMLElement} */ (document.getElementById("whoami"));
  who.textContent = String(mine.username);
  who.parentElement?.removeAttribute("hidden");

  layui.use("layim", function (/** @type {LayIM} */ layim) {
    layim.config({ init: { mine, friend: [...groups.values()] }, title: "我的LayIM" });
    /** @type {string | null} */
    let current = null;
    /** @type {ConnectionState | null} */
    let previous = null;
    layim.on("chatChange", (res) => current = res.data.id);
    /** @param {string} content @param {string | number | null} [to] */
    const systemLine = (content, to = current) => {
      if (to !== null) layim.getMessage({ system: true, id: to, type: "friend", content });
    };

    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const client = new LayimClient({ url: `${scheme}//${location.host}/ws`, id: myId, token }, {
      onMessage(message) {
        layim.getMessage(message);
        layim.setFriendStatus(message.id, "online");
      },
      onAck(_ack, sent) {
        layim.setFriendStatus(sent.to.id, "online");
      },
      onUndelivered(undelivered, sent) {
        layim.setFriendStatus(sent.to.id, "offline");
        systemLine(
          undelivered.reason === "offline"
            ? "对方不在线，消息未送达"
            : "服务暂时不可用，消息未送达",
          sent.to.id,
        );
      },
      onError(error, sent) {
        systemLine(
          ERROR_TEXT[error.code] ?? `出错了：${error.message}`,
          sent ? sent.to.id : current,
        );
      },
      onState(state, detail) {
        status.textContent = STATE_TEXT[state];
        status.dataset.state = state;
        if (state === "reconnecting" && previous === "open") systemLine("连接已断开，正在重连…");
        if (state === "open" && previous === "reconnecting") systemLine("已重新连接");
        if (state === "closed" && detail.code) {
          systemLine(`连接已关闭（${detail.code}），请刷新页面`);
        }
        previous = state;
      },
    });
    layim.on("sendMessage", (data) => client.send(data));
  });
}
