// @ts-check
/// <reference lib="dom" />
/// <reference path="./layui.d.ts" />
/**
 * A LayIM-compatible layui module for one-to-one chat, registered as `layim` with
 * `layui.define`, so glue written for LayIM (`layui.use('layim', …)`) runs unchanged.
 * Load it with `<script type="module" src="layim.js">` after `layui.js`.
 *
 * Supported LayIM API:
 * - `layim.config(options)` with
 *   - `init: { mine: {id, username, avatar, sign?}, friend: [{groupname, id, list: [{id, username, avatar, sign?}]}] }`
 *     (a top-level `friend` beside `init`, as in the seed page, is accepted too);
 *   - `title` (the minimized main panel's title, default "我的LayIM");
 *   - `brief` (true: no main panel, chat windows only);
 *   - `min` (true: the main panel starts minimized);
 * - `layim.on('ready' | 'sendMessage' | 'chatChange', callback)`:
 *   `ready(options)` after the panel is built; `sendMessage({mine, to})` with LayIM's
 *   payload; `chatChange({data, type: "friend", elem})` when another conversation shows;
 * - `layim.getMessage(message)`: a LayIM getMessage object (`id`, `username`, `avatar`,
 *   `content`, `timestamp`, `type: "friend"`, `cid`), or a system line
 *   `{system: true, id, type: "friend", content}` shown in that conversation when it is open;
 * - `layim.chat({id, name | username, avatar, type: "friend"})` opens a conversation;
 * - `layim.setFriendStatus(id, "online" | "offline")`;
 * - `layim.cache()` → `{mine, friend}`.
 *
 * Not supported: groups and group chat (`type: "group"` chats and messages are ignored),
 * `init.url` (loading the lists over
 * HTTP), `uploadImage`/`uploadFile`, `tool`, `msgbox`, `find`, `chatLog`, `isAudio`/`isVideo`,
 * `skin`, `notice`, `voice`, `initSkin`, `copyright`, `right`, `isfriend`/`isgroup`, the events
 * `sign`, `online`, `tool(…)`, and the methods `setChatStatus`, `addList`, `removeList`,
 * `setChatMin`, `panel`, `content`, `msgbox`. Message content is rendered safely
 * (see `markup.js`): `face[…]`, `img[…]`, `a(url)[text]`, `file(url)[name]`, newlines;
 * other LayIM markup stays text. History lives in `localStorage` per user and conversation.
 *
 * @module
 */
import { renderContent, safeUrl } from "./markup.js";

/** @typedef {import("../schemas/types.ts").SendMessage} SendMessage */

/**
 * @typedef {object} Person
 * @property {string | number} id
 * @property {string} [username]
 * @property {string} [name] LayIM's `chat()` names the friend `name`
 * @property {string} [avatar]
 * @property {string} [sign]
 * @property {string} [type] LayIM's chat type; only "friend" is supported
 */

/** @typedef {{ groupname: string, id?: string | number, list: Person[] }} FriendGroup */

/**
 * @typedef {object} LayimOptions
 * @property {{ mine: Person, friend?: FriendGroup[] }} init
 * @property {FriendGroup[]} [friend] the seed page's placement of the friend list
 * @property {string} [title]
 * @property {boolean} [brief]
 * @property {boolean} [min]
 */

/**
 * A received message or a system line, as LayIM's getMessage takes it.
 * A delivered `GetMessage` fits it.
 * @typedef {object} IncomingMessage
 * @property {string | number} id the friend (sender) id
 * @property {string} content
 * @property {string} [type] only "friend" is supported (group messages are ignored)
 * @property {string} [username]
 * @property {string} [avatar]
 * @property {number} [timestamp]
 * @property {string} [cid]
 * @property {boolean} [mine]
 * @property {boolean} [system] a system line, not a message
 */

/**
 * One line of a conversation, as kept in the history.
 * @typedef {object} Entry
 * @property {boolean} mine
 * @property {string} content
 * @property {number} timestamp
 * @property {string} [username]
 * @property {string} [avatar]
 * @property {string} [cid]
 * @property {boolean} [system]
 */

/** @typedef {{ data: Friend, type: "friend", elem: HTMLElement }} ChatChange */

/**
 * @typedef {object} LayIM
 * @property {(options: LayimOptions) => LayIM} config
 * @property {{
 *   (event: "ready", callback: (options: LayimOptions) => void): LayIM,
 *   (event: "sendMessage", callback: (data: SendMessage) => void): LayIM,
 *   (event: "chatChange", callback: (res: ChatChange) => void): LayIM,
 * }} on
 * @property {(message: IncomingMessage) => LayIM} getMessage
 * @property {(person: Person) => LayIM} chat
 * @property {(id: string | number, status: "online" | "offline") => LayIM} setFriendStatus
 * @property {() => { mine: Friend | null, friend: FriendGroup[] }} cache
 */

/**
 * A friend as the module keeps it.
 * @typedef {object} Friend
 * @property {string} id
 * @property {string} username
 * @property {string} avatar
 * @property {string} [sign]
 */

const HISTORY_LIMIT = 200;
const TEMP_GROUP = "临时会话";

/**
 * Creates an element; strings among the children become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * An avatar image; an unsafe URL shows the placeholder only.
 * @param {string} url
 * @param {string} className
 */
function avatar(url, className) {
  const img = el("img", { class: className, alt: "" });
  const src = url ? safeUrl(url, document.baseURI) : null;
  if (src) img.src = src;
  return img;
}

/** @param {number} ms */
function formatTime(ms) {
  const d = new Date(ms);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === new Date().toDateString()
    ? time
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** @param {Person} p @returns {Friend} */
function toFriend(p) {
  const id = String(p.id);
  /** @type {Friend} */
  const friend = {
    id,
    username: String(p.username ?? p.name ?? id),
    avatar: String(p.avatar ?? ""),
  };
  if (p.sign) friend.sign = String(p.sign);
  return friend;
}

/** @returns {LayIM} */
function createLayim() {
  /** @type {LayimOptions | null} */
  let options = null;
  /** @type {Friend | null} */
  let mine = null;
  /** @type {FriendGroup[]} */
  let groups = [];
  /** Friends by id, with their list item in the main panel. @type {Map<string, { friend: Friend, item?: HTMLElement, unread: number, status?: "online" | "offline" }>} */
  const friends = new Map();
  /** @type {{ [K in "ready" | "sendMessage" | "chatChange"]: ((arg: any) => void)[] }} */
  const listeners = { ready: [], sendMessage: [], chatChange: [] };
  /** Open conversations, in tab order. @type {string[]} */
  const open = [];
  /** @type {string | null} */
  let active = null;
  let chatMinimized = false;

  /** @type {HTMLElement | null} */
  let mainPanel = null;
  /** @type {HTMLButtonElement | null} */
  let mainBar = null;
  const ui = buildChatWindow();

  /** @param {string} id */
  const historyKey = (id) => `layim-ws:history:${mine?.id}:${id}`;

  /** @param {string} id @returns {Entry[]} */
  function loadHistory(id) {
    try {
      const stored = JSON.parse(localStorage.getItem(historyKey(id)) ?? "[]");
      return Array.isArray(stored) ? stored : [];
    } catch {
      return [];
    }
  }

  /** @param {string} id @param {Entry} entry @returns {boolean} false for a repeated cid */
  function saveEntry(id, entry) {
    const history = loadHistory(id);
    if (entry.cid && history.some((e) => e.cid === entry.cid)) return false;
    history.push(entry);
    try {
      localStorage.setItem(historyKey(id), JSON.stringify(history.slice(-HISTORY_LIMIT)));
    } catch {
      // Storage full or disabled: the conversation still shows, it just won't survive a reload.
    }
    return true;
  }

  /** @param {Person} person */
  function knownFriend(person) {
    const id = String(person.id);
    let known = friends.get(id);
    if (!known) {
      known = { friend: toFriend(person), unread: 0 };
      friends.set(id, known);
      let temp = groups.find((g) => g.groupname === TEMP_GROUP);
      if (!temp) {
        temp = { groupname: TEMP_GROUP, list: [] };
        groups.push(temp);
      }
      temp.list.push(known.friend);
      renderMainPanel();
    }
    return known;
  }

  function buildChatWindow() {
    const tabs = el("div", { class: "layim-chat-tabs", role: "tablist", "aria-label": "会话列表" });
    const title = el("div", { class: "layim-chat-title" });
    const minimize = el("button", {
      type: "button",
      class: "layim-tool",
      "aria-label": "最小化聊天窗口",
      title: "最小化",
    }, el("i", { class: "layui-icon layui-icon-subtraction", "aria-hidden": "true" }));
    const close = el("button", {
      type: "button",
      class: "layim-tool",
      "aria-label": "关闭聊天窗口",
      title: "关闭",
    }, el("i", { class: "layui-icon layui-icon-close", "aria-hidden": "true" }));
    const log = el("ol", { class: "layim-chat-log", role: "log", "aria-label": "聊天记录" });
    const input = el("textarea", {
      class: "layui-textarea layim-chat-input",
      "aria-label": "输入消息",
      placeholder: "Enter 发送，Shift+Enter 换行",
    });
    const send = el(
      "button",
      { type: "button", class: "layui-btn layui-btn-sm layim-send" },
      "发送",
    );
    const closeOne = el(
      "button",
      {
        type: "button",
        class: "layui-btn layui-btn-sm layui-btn-primary",
        "aria-label": "关闭当前会话",
      },
      "关闭",
    );
    const panel = el(
      "section",
      { class: "layim-chat-main", role: "tabpanel" },
      el("header", { class: "layim-chat-head" }, title, minimize, close),
      log,
      el(
        "div",
        { class: "layim-chat-footer" },
        input,
        el("div", { class: "layim-chat-actions" }, closeOne, send),
      ),
    );
    const win = el(
      "div",
      { class: "layim-chat", role: "dialog", "aria-label": "聊天窗口", hidden: "" },
      tabs,
      panel,
    );
    const bar = el("button", { type: "button", class: "layim-chat-bar", hidden: "" });
    minimize.addEventListener("click", () => setChatMinimized(true));
    bar.addEventListener("click", () => setChatMinimized(false));
    close.addEventListener("click", closeChat);
    send.addEventListener("click", sendInput);
    closeOne.addEventListener("click", closeConversation);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendInput();
      }
    });
    document.body.append(win, bar);
    return { win, bar, tabs, title, log, input };
  }

  function renderMainPanel() {
    if (!options || options.brief || !mine) return;
    const body = el("div", { class: "layim-main-body" });
    for (const group of groups) {
      const list = el("ul", { class: "layim-list", "aria-label": group.groupname });
      for (const person of group.list) {
        const known = friends.get(String(person.id));
        if (!known) continue;
        known.item = friendItem(known.friend);
        list.append(known.item);
        updateFriendItem(known.friend.id);
      }
      const toggle = el(
        "button",
        { type: "button", class: "layim-group", "aria-expanded": "true" },
        el("i", { class: "layui-icon layui-icon-down", "aria-hidden": "true" }),
        group.groupname,
        el("span", { class: "layim-count" }, `(${group.list.length})`),
      );
      toggle.addEventListener("click", () => {
        const expanded = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(expanded));
        list.hidden = !expanded;
      });
      body.append(el("section", { class: "layim-group-section" }, el("h3", {}, toggle), list));
    }
    const minimize = el("button", {
      type: "button",
      class: "layim-tool",
      "aria-label": "最小化主面板",
      title: "最小化",
    }, el("i", { class: "layui-icon layui-icon-subtraction", "aria-hidden": "true" }));
    minimize.addEventListener("click", () => setMainMinimized(true));
    const head = el(
      "header",
      { class: "layim-main-head" },
      avatar(mine.avatar, "layim-avatar layim-avatar-lg"),
      el(
        "div",
        { class: "layim-mine" },
        el("strong", { class: "layim-mine-name" }, mine.username),
        el("p", { class: "layim-sign" }, mine.sign ?? ""),
      ),
      minimize,
    );
    const panel = el(
      "aside",
      { class: "layim-main", role: "region", "aria-label": "LayIM 主面板" },
      head,
      body,
    );
    if (mainPanel) {
      panel.hidden = mainPanel.hidden;
      mainPanel.replaceWith(panel);
    } else {
      panel.hidden = Boolean(options.min);
      document.body.append(panel);
    }
    mainPanel = panel;
    if (!mainBar) {
      mainBar = el("button", {
        type: "button",
        class: "layim-main-bar",
        "aria-label": "打开主面板",
      });
      mainBar.addEventListener("click", () => setMainMinimized(false));
      document.body.append(mainBar);
    }
    mainBar.replaceChildren(
      el("i", { class: "layui-icon layui-icon-dialogue", "aria-hidden": "true" }),
      options.title ?? "我的LayIM",
    );
    mainBar.hidden = !panel.hidden;
  }

  /** @param {boolean} minimized */
  function setMainMinimized(minimized) {
    if (!mainPanel || !mainBar) return;
    mainPanel.hidden = minimized;
    mainBar.hidden = !minimized;
  }

  /** @param {Friend} friend */
  function friendItem(friend) {
    const button = el(
      "button",
      { type: "button", class: "layim-friend", "aria-label": friend.username },
      avatar(friend.avatar, "layim-avatar"),
      el(
        "span",
        { class: "layim-friend-text" },
        el("span", { class: "layim-friend-name" }, friend.username),
        el("span", { class: "layim-sign" }, friend.sign ?? ""),
      ),
    );
    button.addEventListener("click", () => chat(friend));
    return el(
      "li",
      { class: "layim-friend-item", "data-id": friend.id },
      button,
      el("span", { class: "layim-status", role: "img", hidden: "" }),
      el("span", { class: "layui-badge layim-unread", role: "status", hidden: "" }),
    );
  }

  /** Refreshes the status mark and unread badge of a friend in the panel and the tabs. @param {string} id */
  function updateFriendItem(id) {
    const known = friends.get(id);
    if (!known) return;
    const item = known.item;
    if (item) {
      const status = /** @type {HTMLElement} */ (item.querySelector(".layim-status"));
      status.hidden = !known.status;
      status.setAttribute("aria-label", known.status === "online" ? "在线" : "离线");
      item.classList.toggle("layim-offline", known.status === "offline");
      const badge = /** @type {HTMLElement} */ (item.querySelector(".layim-unread"));
      badge.hidden = known.unread === 0;
      badge.textContent = String(known.unread);
      badge.setAttribute("aria-label", `${known.friend.username} 未读消息 ${known.unread}`);
    }
    renderTabs();
  }

  function renderTabs() {
    ui.tabs.hidden = open.length < 2;
    ui.win.classList.toggle("layim-chat-many", open.length > 1);
    ui.tabs.replaceChildren(...open.map((id) => {
      const known = /** @type {NonNullable<ReturnType<typeof friends.get>>} */ (friends.get(id));
      const tab = el(
        "button",
        {
          type: "button",
          role: "tab",
          class: "layim-tab",
          "aria-selected": String(id === active),
          "aria-label": known.friend.username,
        },
        avatar(known.friend.avatar, "layim-avatar layim-avatar-sm"),
        el("span", { class: "layim-tab-name" }, known.friend.username),
      );
      if (known.unread) {
        tab.append(
          el("span", { class: "layui-badge", "aria-hidden": "true" }, String(known.unread)),
        );
      }
      tab.addEventListener("click", () => chat(known.friend));
      return tab;
    }));
    const unread = open.reduce((n, id) => n + (friends.get(id)?.unread ?? 0), 0);
    const current = active ? friends.get(active)?.friend.username : "";
    ui.bar.replaceChildren(
      el("i", { class: "layui-icon layui-icon-dialogue", "aria-hidden": "true" }),
      `与 ${current} 的会话`,
    );
    ui.bar.setAttribute("aria-label", unread ? `打开聊天窗口（${unread} 条未读）` : "打开聊天窗口");
    if (unread) {
      ui.bar.append(el("span", { class: "layui-badge", "aria-hidden": "true" }, String(unread)));
    }
  }

  /** @param {Entry} entry */
  function entryNode(entry) {
    if (entry.system) {
      return el("li", { class: "layim-chat-system", role: "note" }, el("span", {}, entry.content));
    }
    const who = entry.mine ? mine : friends.get(String(active))?.friend;
    const name = entry.username ?? who?.username ?? "";
    const time = el(
      "time",
      { datetime: new Date(entry.timestamp).toISOString() },
      formatTime(entry.timestamp),
    );
    const text = el("div", { class: "layim-chat-text" });
    text.append(renderContent(entry.content));
    return el(
      "li",
      { class: entry.mine ? "layim-chat-li layim-chat-mine" : "layim-chat-li" },
      avatar(entry.avatar ?? who?.avatar ?? "", "layim-avatar"),
      el("div", { class: "layim-chat-user" }, el("cite", {}, name), time),
      text,
    );
  }

  /** @param {Entry} entry */
  function appendToLog(entry) {
    ui.log.append(entryNode(entry));
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function renderConversation() {
    if (!active) return;
    const known = /** @type {NonNullable<ReturnType<typeof friends.get>>} */ (friends.get(active));
    const { friend } = known;
    ui.title.replaceChildren(
      avatar(friend.avatar, "layim-avatar"),
      el(
        "div",
        {},
        el("strong", {}, friend.username),
        el(
          "p",
          { class: "layim-sign" },
          known.status ? (known.status === "online" ? "在线" : "离线") : friend.sign ?? "",
        ),
      ),
    );
    ui.win.setAttribute("aria-label", `与 ${friend.username} 的会话`);
    ui.log.replaceChildren(...loadHistory(active).map(entryNode));
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  /** Whether new lines of this conversation are in view. @param {string} id */
  const inView = (id) => id === active && !ui.win.hidden && !chatMinimized;

  /** @param {Person} person */
  function chat(person) {
    if (person.type !== undefined && person.type !== "friend") return layim;
    const known = knownFriend(person);
    const id = known.friend.id;
    if (!open.includes(id)) open.push(id);
    const changed = active !== id;
    active = id;
    ui.win.hidden = false;
    setChatMinimized(false);
    known.unread = 0;
    updateFriendItem(id);
    renderConversation();
    ui.input.focus();
    if (changed) emit("chatChange", { data: known.friend, type: "friend", elem: ui.win });
    return layim;
  }

  /** @param {boolean} minimized */
  function setChatMinimized(minimized) {
    chatMinimized = minimized;
    ui.win.hidden = minimized || open.length === 0;
    ui.bar.hidden = !minimized;
    if (!minimized && active) {
      const known = friends.get(active);
      if (known && known.unread) {
        known.unread = 0;
        updateFriendItem(active);
        renderConversation();
      }
    }
    renderTabs();
  }

  /** Closes the active conversation and shows the next open one, if any. */
  function closeConversation() {
    if (!active) return;
    const at = open.indexOf(active);
    open.splice(at, 1);
    const next = open[Math.min(at, open.length - 1)];
    if (next === undefined) return closeChat();
    active = null;
    chat(/** @type {NonNullable<ReturnType<typeof friends.get>>} */ (friends.get(next)).friend);
  }

  function closeChat() {
    open.length = 0;
    active = null;
    ui.win.hidden = true;
    ui.bar.hidden = true;
    chatMinimized = false;
    renderTabs();
  }

  function sendInput() {
    const content = ui.input.value;
    if (!active || !mine || content.trim() === "") return;
    const friend =
      /** @type {NonNullable<ReturnType<typeof friends.get>>} */ (friends.get(active)).friend;
    /** @type {SendMessage} */
    const data = {
      mine: { username: mine.username, avatar: mine.avatar, id: mine.id, mine: true, content },
      to: { ...friend, type: "friend" },
    };
    const entry = {
      mine: true,
      content,
      timestamp: Date.now(),
      username: mine.username,
      avatar: mine.avatar,
    };
    saveEntry(active, entry);
    appendToLog(entry);
    ui.input.value = "";
    ui.input.focus();
    emit("sendMessage", data);
  }

  /**
   * @param {"ready" | "sendMessage" | "chatChange"} event
   * @param {unknown} arg
   */
  function emit(event, arg) {
    for (const callback of listeners[event]) callback(arg);
  }

  /** @type {LayIM} */
  const layim = {
    config(o) {
      options = o;
      mine = toFriend(o.init.mine);
      groups = (o.init.friend ?? o.friend ?? []).map((g) => ({ ...g, list: [...g.list] }));
      friends.clear();
      for (const group of groups) {
        for (const person of group.list) {
          const friend = toFriend(person);
          friends.set(friend.id, { friend, unread: 0 });
        }
      }
      renderMainPanel();
      queueMicrotask(() => emit("ready", o));
      return layim;
    },
    on(event, callback) {
      if (event in listeners) listeners[event].push(callback);
      return layim;
    },
    getMessage(message) {
      if (message.type !== undefined && message.type !== "friend") return layim;
      const id = String(message.id);
      if (message.system) {
        if (!open.includes(id)) return layim;
        const entry = {
          mine: false,
          system: true,
          content: String(message.content),
          timestamp: Date.now(),
        };
        saveEntry(id, entry);
        if (inView(id)) appendToLog(entry);
        return layim;
      }
      const known = knownFriend({ id, username: message.username, avatar: message.avatar });
      /** @type {Entry} */
      const entry = {
        mine: Boolean(message.mine),
        content: String(message.content),
        timestamp: typeof message.timestamp === "number" ? message.timestamp : Date.now(),
        username: message.username ?? known.friend.username,
        avatar: message.avatar ?? known.friend.avatar,
      };
      if (message.cid) entry.cid = String(message.cid);
      if (!saveEntry(id, entry)) return layim;
      if (inView(id)) {
        appendToLog(entry);
      } else {
        known.unread++;
        updateFriendItem(id);
      }
      return layim;
    },
    chat,
    setFriendStatus(id, status) {
      const known = friends.get(String(id));
      if (!known || known.status === status) return layim;
      known.status = status;
      updateFriendItem(known.friend.id);
      if (active === known.friend.id) renderConversation();
      return layim;
    },
    cache() {
      return { mine, friend: groups };
    },
  };
  return layim;
}

layui.define((exports) => exports("layim", createLayim()));
