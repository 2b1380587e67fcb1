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

/** Why a connection closed, in words, by close code (spec section 9). */
const CLOSE_TEXT = /** @type {Record<number, string>} */ ({
  1000: "连接已关闭",
  1001: "中继正在重启或关闭",
  1003: "发送了中继不支持的数据",
  1006: "网络中断",
  1009: "消息过大，连接被中继关闭",
  1011: "中继内部出错",
  4001: "身份验证失败（令牌无效或已过期）",
  4002: "用户 ID 无效",
  4003: "登录超时",
  4004: "此账号打开的窗口过多，本窗口已被新窗口替换",
  4005: "网络太慢，中继断开了连接",
  4006: "长时间没有响应，连接已超时",
});

/** @param {number | undefined} code */
const closeText = (code) =>
  code === undefined ? "" : CLOSE_TEXT[code] ?? `连接意外关闭（代码 ${code}）`;

/** Why the relay refused a message, in words, by v1 error code. */
const ERROR_TEXT = /** @type {Record<string, string>} */ ({
  rate_limited: "发送过于频繁",
  frame_too_large: "消息过长",
  sender_mismatch: "身份不符",
  invalid_frame: "消息格式有误",
  not_identified: "尚未登录",
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
    layim.config({
      init: { mine, friend: [...groups.values()] },
      title: "我的LayIM",
      notice: true,
    });
    /** @type {string | null} */
    let current = null;
    /** @type {ConnectionState | null} */
    let previous = null;
    layim.on("chatChange", (res) => current = res.data.id);
    /** A line in the open conversation; never stored. @param {string} content */
    const systemLine = (content) => {
      if (current !== null) {
        layim.getMessage({ system: true, id: current, type: "friend", content });
      }
    };
    // A status shows only as the relay's presence tells it (v1, when offered): never guessed
    // from acks or undelivered messages, and gone while the connection is down.
    const friendIds = [...groups.values()].flatMap((g) => g.list.map((f) => String(f.id)));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const client = new LayimClient({ url: `${scheme}//${location.host}/ws`, id: myId, token }, {
      onMessage(message) {
        layim.getMessage(message);
      },
      onStatus(sent, status) {
        layim.setMessageStatus(sent, status === "abandoned" ? "failed" : status);
      },
      onAck(_ack, sent) {
        layim.setMessageStatus(sent, "delivered");
      },
      onUndelivered(undelivered, sent) {
        layim.setMessageStatus(sent, undelivered.reason === "offline" ? "offline" : "unavailable");
      },
      onError(error, sent) {
        const reason = ERROR_TEXT[error.code] ?? error.message;
        if (sent) layim.setMessageStatus(sent, "refused", reason);
        else systemLine(`出错了：${reason}`);
      },
      onPresence(online, offline) {
        for (const id of online) layim.setFriendStatus(id, "online");
        for (const id of offline) layim.setFriendStatus(id, "offline");
      },
      onPresenceUnknown() {
        for (const id of friendIds) layim.setFriendStatus(id, null);
      },
      onState(state, detail) {
        const why = closeText(detail.code);
        status.textContent = why && state !== "open"
          ? `${STATE_TEXT[state]}（${why}）`
          : STATE_TEXT[state];
        status.dataset.state = state;
        if (state === "reconnecting" && previous === "open") {
          systemLine(`连接已断开（${why || "网络中断"}），正在重连…`);
        }
        if (state === "open" && previous === "reconnecting") systemLine("已重新连接");
        if (state === "closed" && detail.code) {
          layim.disableSend(`已断开：${why}。请刷新页面后再发送。`);
        }
        previous = state;
      },
    });
    client.watch(friendIds);
    layim.on("sendMessage", (data) => client.send(data));
  });
}
