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
 *   - `voice` (the sound of a new message: a file in `voice/` or a URL; default
 *     `"default.wav"`; `false` for none);
 *   - `notice` (true: desktop notifications while the page is hidden; default false);
 *   - `maxLength` (longest message in characters, default 3000);
 * - `layim.on('ready' | 'sendMessage' | 'chatChange', callback)`:
 *   `ready(options)` after the panel is built; `sendMessage({mine, to})` with LayIM's
 *   payload; `chatChange({data, type: "friend", elem})` when another conversation shows;
 * - `layim.getMessage(message)`: a LayIM getMessage object (`id`, `username`, `avatar`,
 *   `content`, `timestamp`, `type: "friend"`, `cid`), or a system line
 *   `{system: true, id, type: "friend", content}` shown in that conversation when it is open
 *   (never stored, as in LayIM). A message whose chat is not in view is queued: the
 *   "收到新消息" bar shakes, the `voice` sound plays, a desktop notification shows (`notice`);
 *   a chat tab that is open but not selected shakes.
 * - `layim.chat({id, name | username, avatar, type: "friend"})` opens a conversation;
 * - `layim.setFriendStatus(id, "online" | "offline")` (no status shows until it is called;
 *   `null`, an extension, removes it again: the page no longer knows);
 * - `layim.cache()` → `{mine, friend}`.
 *
 * Extensions (not in LayIM): `layim.setMessageStatus(data, status, reason?)` shows the
 * delivery state of a sent message (`data` is the object the `sendMessage` event passed);
 * `layim.disableSend(reason)` stops sending for good and says why.
 *
 * Not supported: groups and group chat (`type: "group"` chats and messages are ignored),
 * `init.url`, `uploadImage`/`uploadFile`, `tool`, `msgbox`, `find`, `chatLog`,
 * `isAudio`/`isVideo`, `skin`, `initSkin`, `copyright`, `right`, `isfriend`/`isgroup`, the
 * events `sign`, `online`, `tool(…)`, and the methods `setChatStatus`, `addList`,
 * `removeList`, `setChatMin`, `panel`, `content`, `msgbox`. Message content is rendered
 * safely (see `markup.js`). History lives in `localStorage` per user and conversation
 * (`store.js`), shared by the user's tabs.
 *
 * @module
 */
import { FACES, plainText, renderContent, safeUrl } from "./markup.js";
import { Store } from "./store.js";
import { canNotify, notify, once, pageVisible, playVoice, TabBadge } from "./attention.js";

/** @typedef {import("../schemas/types.ts").SendMessage} SendMessage */
/** @typedef {import("./store.js").Entry} Entry */

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
 * @property {string | false} [voice]
 * @property {boolean} [notice]
 * @property {number} [maxLength]
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
 * Delivery states of a sent message: `waiting` (for a connection), `sending`, `retrying`
 * (recipient offline after a reconnect), `delivered`, `sent` (no receipt will come),
 * `offline`, `unavailable`, `refused` (with a reason), `failed` (the connection closed for
 * good), `unsent` (the page closed before it could be sent), `unknown` (the page closed
 * before an outcome).
 * @typedef {"waiting" | "sending" | "retrying" | "delivered" | "sent" | "offline" | "unavailable" | "refused" | "failed" | "unsent" | "unknown"} MessageStatus
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
 * @property {(id: string | number, status: "online" | "offline" | null) => LayIM} setFriendStatus
 * @property {() => { mine: Friend | null, friend: FriendGroup[] }} cache
 * @property {(data: SendMessage, status: MessageStatus, reason?: string) => LayIM} setMessageStatus
 * @property {(reason: string) => LayIM} disableSend
 */

/**
 * A friend as the module keeps it.
 * @typedef {object} Friend
 * @property {string} id
 * @property {string} username
 * @property {string} avatar
 * @property {string} [sign]
 */

/** @typedef {{ friend: Friend, item?: HTMLElement, status?: "online" | "offline" }} Known */

const TEMP_GROUP = "临时会话";
const PREVIEW_CHARS = 24;

/** What a sent bubble says, by state. */
const STATUS_TEXT = /** @type {Record<MessageStatus, string>} */ ({
  waiting: "等待连接…",
  sending: "发送中…",
  retrying: "对方暂不在线，稍后自动重发…",
  delivered: "已送达",
  sent: "已发出",
  offline: "对方不在线，未送达",
  unavailable: "服务暂时不可用，未送达",
  refused: "未送达",
  failed: "连接已关闭，未发送",
  unsent: "页面关闭时尚未发出",
  unknown: "页面关闭前未确认是否送达",
});
/** States after which the person may send the message again. */
const RETRYABLE = new Set(["offline", "unavailable", "refused", "failed", "unsent", "unknown"]);
/** States this tab is still working on; a page that goes away leaves them `unknown`. */
const PENDING = new Set(["waiting", "sending", "retrying"]);

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

/** @param {string} label @param {string} icon @param {Record<string, string>} [attrs] */
function toolButton(label, icon, attrs = {}) {
  return el(
    "button",
    { type: "button", class: "layim-tool", "aria-label": label, title: label, ...attrs },
    el("i", { class: `layui-icon ${icon}`, "aria-hidden": "true" }),
  );
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

/** The first words of a message, in one line. @param {string} content */
function preview(content) {
  const text = plainText(content, document.baseURI).trim();
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

/** Restarts an element's shake animation. @param {Element} node */
function shake(node) {
  node.classList.remove("layim-shake");
  void (/** @type {HTMLElement} */ (node)).offsetWidth;
  node.classList.add("layim-shake");
}

/** @returns {LayIM} */
function createLayim() {
  /** @type {LayimOptions | null} */
  let options = null;
  /** @type {Friend | null} */
  let mine = null;
  /** @type {Store | null} */
  let store = null;
  /** @type {FriendGroup[]} */
  let groups = [];
  /** @type {Map<string, Known>} */
  const friends = new Map();
  /** @type {{ [K in "ready" | "sendMessage" | "chatChange"]: ((arg: any) => void)[] }} */
  const listeners = { ready: [], sendMessage: [], chatChange: [] };
  /** Open conversations, in tab order. @type {string[]} */
  const open = [];
  /** @type {string | null} */
  let active = null;
  let chatMinimized = false;
  /** Why sending stopped for good, once it has. @type {string | null} */
  let sendDisabled = null;
  /** Lines this tab has taken in (shown or counted), by `friend\nkey`. */
  const seen = new Set();
  /** System lines of this page's life, by friend (never stored). @type {Map<string, Entry[]>} */
  const transient = new Map();
  /** This tab's sent lines by the payload object its sendMessage event passed. @type {WeakMap<object, { friend: string, entry: Entry }>} */
  const sent = new WeakMap();
  /** This tab's sent lines still in progress. @type {Set<{ friend: string, entry: Entry }>} */
  const inProgress = new Set();
  /** Unread counts by friend, as last computed. @type {Map<string, number>} */
  let unread = new Map();
  /** The unread badge of each group's header. @type {Map<FriendGroup, { toggle: HTMLElement, badge: HTMLElement }>} */
  const groupBadges = new Map();
  /** Received lines below the reader's view in the open conversation. */
  let newBelow = 0;
  const badge = new TabBadge();
  const narrow = matchMedia("(max-width: 480px)");

  /** @type {ReturnType<typeof buildMainPanel> | null} */
  let main = null;
  const ui = buildChatWindow();

  // ---- the main panel ---------------------------------------------------------------

  function buildMainPanel() {
    if (!options || !mine) throw new Error("config first");
    const contactsTab = el(
      "button",
      {
        type: "button",
        role: "tab",
        class: "layim-main-tab",
        "aria-selected": "true",
        id: "layim-tab-contacts",
      },
      el("i", { class: "layui-icon layui-icon-username", "aria-hidden": "true" }),
      "联系人",
    );
    const recentTab = el(
      "button",
      {
        type: "button",
        role: "tab",
        class: "layim-main-tab",
        "aria-selected": "false",
        id: "layim-tab-recent",
      },
      el("i", { class: "layui-icon layui-icon-dialogue", "aria-hidden": "true" }),
      "历史会话",
    );
    const contacts = el("div", {
      class: "layim-main-body",
      role: "tabpanel",
      "aria-labelledby": "layim-tab-contacts",
    });
    const recent = el("ul", {
      class: "layim-main-body layim-list layim-recent",
      role: "tabpanel",
      "aria-labelledby": "layim-tab-recent",
      hidden: "",
    });
    /** @param {boolean} showRecent */
    const select = (showRecent) => {
      contactsTab.setAttribute("aria-selected", String(!showRecent));
      recentTab.setAttribute("aria-selected", String(showRecent));
      contacts.hidden = showRecent;
      recent.hidden = !showRecent;
    };
    contactsTab.addEventListener("click", () => select(false));
    recentTab.addEventListener("click", () => select(true));

    const minimize = toolButton("最小化主面板", "layui-icon-subtraction");
    minimize.addEventListener("click", () => setMainMinimized(true, true));
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
    const tools = el("div", { class: "layim-main-tools", role: "toolbar", "aria-label": "设置" });
    if (options.voice !== false) {
      const sound = toolButton("消息提示音", "layui-icon-speaker", {
        "aria-pressed": String(store?.pref("voice") !== false),
      });
      sound.addEventListener("click", () => {
        const on = sound.getAttribute("aria-pressed") !== "true";
        sound.setAttribute("aria-pressed", String(on));
        store?.setPref("voice", on);
      });
      tools.append(sound);
    }
    if (options.notice && canNotify()) tools.append(noticeButton());
    const panel = el(
      "aside",
      { class: "layim-main", role: "region", "aria-label": "LayIM 主面板" },
      head,
      el(
        "div",
        { class: "layim-main-tabs", role: "tablist", "aria-label": "主面板" },
        contactsTab,
        recentTab,
      ),
      contacts,
      recent,
      tools,
    );
    const bar = el(
      "button",
      {
        type: "button",
        class: "layim-main-bar",
        "aria-label": "打开主面板",
        hidden: "",
      },
      el("i", { class: "layui-icon layui-icon-dialogue", "aria-hidden": "true" }),
      options.title ?? "我的LayIM",
    );
    bar.addEventListener("click", () => setMainMinimized(false, true));
    document.body.append(panel, bar);
    return { panel, bar, contacts, recent, contactsTab, minimize, recentItems: new Map() };
  }

  /** The desktop-notification switch; permission is asked only when it is clicked. */
  function noticeButton() {
    const button = toolButton("桌面通知", "layui-icon-notice");
    const sync = () => {
      const permission = Notification.permission;
      button.disabled = permission === "denied";
      button.title = permission === "denied" ? "桌面通知已被浏览器禁止" : "桌面通知";
      button.setAttribute(
        "aria-pressed",
        String(permission === "granted" && store?.pref("notice") !== false),
      );
    };
    button.addEventListener("click", async () => {
      if (Notification.permission === "default") {
        await Notification.requestPermission();
        store?.setPref("notice", true);
      } else if (Notification.permission === "granted") {
        store?.setPref("notice", button.getAttribute("aria-pressed") !== "true");
      }
      sync();
    });
    sync();
    return button;
  }

  /** @param {FriendGroup} group */
  function groupSection(group) {
    const collapsed = /** @type {string[]} */ (store?.pref("collapsed") ?? []);
    const expanded = !collapsed.includes(group.groupname);
    const list = el("ul", { class: "layim-list", "aria-label": group.groupname });
    list.hidden = !expanded;
    const count = el("span", { class: "layim-count" }, `(${group.list.length})`);
    // A collapsed group still shows that something in it is unread.
    const groupUnread = el("span", { class: "layui-badge layim-group-unread", hidden: "" });
    const toggle = el(
      "button",
      { type: "button", class: "layim-group", "aria-expanded": String(expanded) },
      el("i", { class: "layui-icon layui-icon-down", "aria-hidden": "true" }),
      group.groupname,
      count,
      groupUnread,
    );
    groupBadges.set(group, { toggle, badge: groupUnread });
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      list.hidden = !open;
      refresh();
      const now = new Set(/** @type {string[]} */ (store?.pref("collapsed") ?? []));
      if (open) now.delete(group.groupname);
      else now.add(group.groupname);
      store?.setPref("collapsed", [...now]);
    });
    for (const person of group.list) {
      const known = friends.get(String(person.id));
      if (!known) continue;
      known.item = friendItem(known.friend);
      list.append(known.item);
    }
    return el("section", { class: "layim-group-section" }, el("h3", {}, toggle), list);
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

  /** @param {Person} person */
  function knownFriend(person) {
    const id = String(person.id);
    let known = friends.get(id);
    if (known) return known;
    known = { friend: toFriend(person) };
    friends.set(id, known);
    let temp = groups.find((g) => g.groupname === TEMP_GROUP);
    if (!temp) {
      temp = { groupname: TEMP_GROUP, list: [known.friend] };
      groups.push(temp);
      main?.contacts.append(groupSection(temp));
    } else {
      temp.list.push(known.friend);
      const section = main?.contacts.querySelector(`ul[aria-label="${TEMP_GROUP}"]`);
      if (section) {
        known.item = friendItem(known.friend);
        section.append(known.item);
        const count = section.parentElement?.querySelector(".layim-count");
        if (count) count.textContent = `(${temp.list.length})`;
      }
    }
    return known;
  }

  /** @param {boolean} minimized @param {boolean} [moveFocus] */
  function setMainMinimized(minimized, moveFocus = false) {
    if (!main) return;
    main.panel.hidden = minimized;
    main.bar.hidden = !minimized;
    saveWindow();
    if (!moveFocus) return;
    if (minimized) main.bar.focus();
    else main.contactsTab.focus();
  }

  // ---- the chat window --------------------------------------------------------------

  function buildChatWindow() {
    const tabs = el("div", { class: "layim-chat-tabs", role: "tablist", "aria-label": "会话列表" });
    const back = el(
      "button",
      { type: "button", class: "layim-tool layim-back", "aria-label": "返回" },
      el("i", { class: "layui-icon layui-icon-left", "aria-hidden": "true" }),
      "返回",
    );
    const title = el("div", { class: "layim-chat-title" });
    const minimize = toolButton("最小化聊天窗口", "layui-icon-subtraction");
    const close = toolButton("关闭聊天窗口", "layui-icon-close");
    const log = el("ol", { class: "layim-chat-log", role: "log", "aria-label": "聊天记录" });
    const below = el("button", { type: "button", class: "layim-new-below", hidden: "" });
    const faceButton = toolButton("选择表情", "layui-icon-face-smile", {
      "aria-haspopup": "dialog",
      "aria-expanded": "false",
    });
    const picker = el("div", {
      class: "layim-faces",
      role: "dialog",
      "aria-label": "表情",
      hidden: "",
    });
    const input = el("textarea", {
      class: "layui-textarea layim-chat-input",
      "aria-label": "输入消息",
      enterkeyhint: "send",
    });
    const alert = el("p", { class: "layim-chat-alert", role: "alert" });
    const send = el(
      "button",
      { type: "button", class: "layui-btn layui-btn-sm layim-send" },
      "发送",
    );
    const closeOne = el(
      "button",
      {
        type: "button",
        class: "layui-btn layui-btn-sm layui-btn-primary layim-close-one",
        "aria-label": "关闭当前会话",
      },
      "关闭",
    );
    const panel = el(
      "section",
      { class: "layim-chat-main", role: "tabpanel" },
      el("header", { class: "layim-chat-head" }, back, title, minimize, close),
      el("div", { class: "layim-chat-view" }, log, below),
      el(
        "div",
        { class: "layim-chat-footer" },
        el(
          "div",
          { class: "layim-chat-toolbar", role: "toolbar", "aria-label": "聊天工具" },
          faceButton,
        ),
        picker,
        input,
        alert,
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
    const msgBar = el("button", { type: "button", class: "layim-msg-bar", hidden: "" });
    const announcer = el("div", {
      class: "layim-sr-only",
      role: "status",
      "aria-live": "polite",
      "aria-label": "新消息提醒",
    });
    minimize.addEventListener("click", () => setChatMinimized(true, true));
    bar.addEventListener("click", () => setChatMinimized(false, true));
    close.addEventListener("click", () => closeChat(true));
    back.addEventListener("click", () => closeChat(true));
    msgBar.addEventListener("click", openQueued);
    send.addEventListener("click", sendInput);
    closeOne.addEventListener("click", closeConversation);
    below.addEventListener("click", () => {
      log.scrollTop = log.scrollHeight;
    });
    log.addEventListener("scroll", () => {
      if (atBottom()) setNewBelow(0);
    });
    faceButton.addEventListener("click", () => togglePicker(Boolean(picker.hidden)));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendInput();
      }
    });
    input.addEventListener("input", () => {
      alert.textContent = "";
    });
    document.body.append(win, bar, msgBar, announcer);
    /** @type {Map<string, HTMLButtonElement>} */
    const tabButtons = new Map();
    return {
      win,
      bar,
      msgBar,
      announcer,
      tabs,
      tabButtons,
      title,
      log,
      below,
      input,
      alert,
      send,
      faceButton,
      picker,
    };
  }

  /** @param {boolean} show */
  function togglePicker(show) {
    if (show && ui.picker.childElementCount === 0) buildPicker();
    ui.picker.hidden = !show;
    ui.faceButton.setAttribute("aria-expanded", String(show));
    if (show) /** @type {HTMLElement | null} */ (ui.picker.querySelector("button"))?.focus();
  }

  function buildPicker() {
    const columns = 12;
    const buttons = FACES.map(([name, emoji], i) => {
      const button = el(
        "button",
        { type: "button", class: "layim-face-choice", "aria-label": name, title: name },
        emoji,
      );
      button.addEventListener("click", () => {
        const { input } = ui;
        input.setRangeText(`face[${name}]`, input.selectionStart, input.selectionEnd, "end");
        togglePicker(false);
        input.focus();
      });
      button.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns }[
          event.key
        ];
        if (!step) return;
        event.preventDefault();
        buttons[(i + step + buttons.length) % buttons.length].focus();
      });
      return button;
    });
    ui.picker.append(...buttons);
  }

  /** Whether the open conversation is scrolled to its end. */
  const atBottom = () => ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 24;

  /** @param {number} n */
  function setNewBelow(n) {
    newBelow = n;
    ui.below.hidden = n === 0;
    ui.below.textContent = `↓ ${n} 条新消息`;
  }

  function renderTabs() {
    ui.tabs.hidden = open.length < 2;
    ui.win.classList.toggle("layim-chat-many", open.length > 1);
    for (const [id, tab] of ui.tabButtons) {
      if (!open.includes(id)) {
        tab.remove();
        ui.tabButtons.delete(id);
      }
    }
    open.forEach((id, at) => {
      const known = /** @type {Known} */ (friends.get(id));
      let tab = ui.tabButtons.get(id);
      if (!tab) {
        tab = el("button", {
          type: "button",
          role: "tab",
          class: "layim-tab",
          "aria-label": known.friend.username,
        });
        tab.addEventListener("click", () => chat(known.friend));
        ui.tabButtons.set(id, tab);
      }
      if (ui.tabs.children[at] !== tab) ui.tabs.insertBefore(tab, ui.tabs.children[at] ?? null);
      tab.setAttribute("aria-selected", String(id === active));
      const count = unread.get(id) ?? 0;
      tab.replaceChildren(
        avatar(known.friend.avatar, "layim-avatar layim-avatar-sm"),
        el("span", { class: "layim-tab-name" }, known.friend.username),
      );
      if (count) {
        tab.append(el("span", { class: "layui-badge", "aria-hidden": "true" }, String(count)));
      }
    });
    const openUnread = open.reduce((n, id) => n + (unread.get(id) ?? 0), 0);
    const current = active ? friends.get(active)?.friend.username : "";
    ui.bar.replaceChildren(
      el("i", { class: "layui-icon layui-icon-dialogue", "aria-hidden": "true" }),
      `与 ${current} 的会话`,
    );
    ui.bar.setAttribute(
      "aria-label",
      openUnread ? `打开聊天窗口（${openUnread} 条未读）` : "打开聊天窗口",
    );
    if (openUnread) {
      ui.bar.append(
        el("span", { class: "layui-badge", "aria-hidden": "true" }, String(openUnread)),
      );
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
    const li = el(
      "li",
      {
        class: entry.mine ? "layim-chat-li layim-chat-mine" : "layim-chat-li",
        "data-key": entry.key,
      },
      avatar(entry.avatar ?? who?.avatar ?? "", "layim-avatar"),
      el("div", { class: "layim-chat-user" }, el("cite", {}, name), time),
      text,
    );
    if (entry.mine && entry.status) li.append(stateNode(entry));
    return li;
  }

  /** The delivery state under a sent bubble, with 重试 when it failed. @param {Entry} entry */
  function stateNode(entry) {
    const status = /** @type {MessageStatus} */ (entry.status);
    const words = status === "refused" && entry.reason
      ? `${entry.reason}，未送达`
      : STATUS_TEXT[status] ?? "";
    const node = el(
      "div",
      { class: "layim-chat-state", "data-status": status },
      el("span", {}, words),
    );
    if (RETRYABLE.has(status) && !sendDisabled && active) {
      const friend = active;
      const retry = el("button", { type: "button", class: "layim-retry" }, "重试");
      retry.addEventListener("click", () => resend(friend, entry));
      node.append(" ", retry);
    }
    return node;
  }

  /** Shows a line in the open conversation (or updates its bubble when it is there). @param {Entry} entry */
  function showInLog(entry) {
    const old = ui.log.querySelector(`li[data-key="${CSS.escape(entry.key)}"]`);
    if (old) {
      // Only the state changes: a replaced bubble would be read out again by the log.
      old.querySelector(".layim-chat-state")?.remove();
      if (entry.mine && entry.status) old.append(stateNode(entry));
      return;
    }
    const follow = entry.mine || atBottom();
    ui.log.append(entryNode(entry));
    if (follow) {
      ui.log.scrollTop = ui.log.scrollHeight;
    } else {
      setNewBelow(newBelow + 1);
    }
  }

  function renderConversation() {
    if (!active) return;
    const known = /** @type {Known} */ (friends.get(active));
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
    const lines = [...(store?.lines(active) ?? []), ...(transient.get(active) ?? [])]
      .sort((a, b) => a.timestamp - b.timestamp);
    const firstUnread = lines.find((e) =>
      !e.mine && !e.system && !store?.isRead(active ?? "", e.key)
    );
    /** @type {HTMLElement | null} */
    let divider = null;
    ui.log.replaceChildren(...lines.flatMap((entry) => {
      seen.add(`${active}\n${entry.key}`);
      if (entry !== firstUnread) return [entryNode(entry)];
      divider = el("li", { class: "layim-chat-divider", role: "separator" }, "以下为新消息");
      return [divider, entryNode(entry)];
    }));
    setNewBelow(0);
    ui.log.scrollTop = ui.log.scrollHeight;
    /** @type {HTMLElement | null} */ (divider)?.scrollIntoView({ block: "start" });
  }

  /** Whether new lines of this conversation are in front of the person. @param {string} id */
  const inView = (id) => id === active && !ui.win.hidden && !chatMinimized && pageVisible();

  /** @param {Person} person */
  function chat(person) {
    if (person.type !== undefined && person.type !== "friend") return layim;
    const known = knownFriend(person);
    const id = known.friend.id;
    if (!open.includes(id)) open.push(id);
    const changed = active !== id;
    active = id;
    chatMinimized = false;
    ui.win.hidden = false;
    ui.bar.hidden = true;
    togglePicker(false);
    ui.alert.textContent = "";
    renderConversation();
    markRead(id);
    refresh();
    saveWindow();
    ui.input.focus();
    if (changed) emit("chatChange", { data: known.friend, type: "friend", elem: ui.win });
    return layim;
  }

  /** @param {boolean} minimized @param {boolean} [moveFocus] */
  function setChatMinimized(minimized, moveFocus = false) {
    chatMinimized = minimized;
    ui.win.hidden = minimized || open.length === 0;
    ui.bar.hidden = !minimized || open.length === 0;
    if (!minimized && active) {
      renderConversation();
      markRead(active);
    }
    refresh();
    saveWindow();
    if (!moveFocus) return;
    if (minimized) ui.bar.focus();
    else ui.input.focus();
  }

  /** Closes the active conversation and shows the next open one, if any. */
  function closeConversation() {
    if (!active) return;
    const at = open.indexOf(active);
    open.splice(at, 1);
    const next = open[Math.min(at, open.length - 1)];
    if (next === undefined) return closeChat(true);
    active = null;
    chat(/** @type {Known} */ (friends.get(next)).friend);
  }

  /** @param {boolean} [moveFocus] */
  function closeChat(moveFocus = false) {
    const last = active;
    open.length = 0;
    active = null;
    chatMinimized = false;
    ui.win.hidden = true;
    ui.bar.hidden = true;
    togglePicker(false);
    refresh();
    saveWindow();
    if (!moveFocus) return;
    // Back where the conversation was opened from, else the way back to the panel.
    const item = last ? friends.get(last)?.item?.querySelector("button") : null;
    if (item && main && !main.panel.hidden && item.checkVisibility()) item.focus();
    else if (main && !main.bar.hidden) main.bar.focus();
  }

  /** Opens every conversation that waits in the "收到新消息" bar, the latest last. */
  function openQueued() {
    const waiting = queued().reverse();
    for (const id of waiting) chat(/** @type {Known} */ (friends.get(id)).friend);
  }

  // ---- sending ----------------------------------------------------------------------

  function sendInput() {
    const content = ui.input.value;
    if (!active || !mine || sendDisabled || content.trim() === "") return;
    const max = options?.maxLength ?? 3000;
    if (content.length > max) {
      ui.alert.textContent = `内容最长不能超过${max}个字符`;
      return;
    }
    /** @type {Entry} */
    const entry = {
      key: `l${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`,
      mine: true,
      content,
      timestamp: Date.now(),
      username: mine.username,
      avatar: mine.avatar,
    };
    store?.put(active, entry);
    seen.add(`${active}\n${entry.key}`);
    showInLog(entry);
    ui.input.value = "";
    ui.input.focus();
    emitSend(active, entry);
  }

  /** @param {string} friendId @param {Entry} entry */
  function emitSend(friendId, entry) {
    if (!mine) return;
    const friend = /** @type {Known} */ (friends.get(friendId)).friend;
    /** @type {SendMessage} */
    const data = {
      mine: {
        username: mine.username,
        avatar: mine.avatar,
        id: mine.id,
        mine: true,
        content: entry.content,
      },
      to: { ...friend, type: "friend" },
    };
    sent.set(data, { friend: friendId, entry });
    emit("sendMessage", data);
  }

  /** @param {string} friendId @param {Entry} entry */
  function resend(friendId, entry) {
    delete entry.status;
    delete entry.reason;
    store?.put(friendId, entry);
    if (inView(friendId)) showInLog(entry);
    emitSend(friendId, entry);
  }

  // A page going away cannot finish what it was sending: say so instead of "sending…".
  addEventListener("pagehide", () => {
    for (const line of inProgress) {
      line.entry.status = line.entry.status === "waiting" ? "unsent" : "unknown";
      store?.put(line.friend, line.entry);
    }
  });

  // ---- receiving --------------------------------------------------------------------

  /**
   * A line this tab learns of, from its own connection or from another tab.
   * @param {string} id
   * @param {Entry} entry
   * @param {boolean} fromRelay whether this tab received it (not another tab)
   */
  function takeIn(id, entry, fromRelay) {
    const mark = `${id}\n${entry.key}`;
    // In the open window (the tab may be hidden: then it is shown but stays unread).
    const inWindow = id === active && !ui.win.hidden && !chatMinimized;
    if (seen.has(mark)) {
      if (inWindow && entry.mine) showInLog(entry);
      return;
    }
    seen.add(mark);
    if (inWindow) showInLog(entry);
    if (inView(id)) {
      if (!entry.mine) markRead(id);
      refresh();
      return;
    }
    refresh();
    if (entry.mine) return;
    const known = /** @type {Known} */ (friends.get(id));
    const words = `${known.friend.username}：${preview(entry.content)}`;
    announce(`新消息 ${words}`);
    const tab = ui.tabButtons.get(id);
    if (tab && !ui.win.hidden && !chatMinimized && !narrow.matches) shake(tab);
    if (!ui.msgBar.hidden) shake(ui.msgBar);
    if (!fromRelay) return;
    once(`${mine?.id}:${entry.key}`, () => {
      if (options?.voice && store?.pref("voice") !== false) playVoice(options.voice);
      if (options?.notice && !pageVisible() && store?.pref("notice") !== false) {
        notify(
          {
            title: `来自 ${known.friend.username} 的消息`,
            body: plainText(entry.content, document.baseURI),
            icon: safeUrl(known.friend.avatar, document.baseURI) ?? undefined,
            tag: `layim-ws:${id}`,
          },
          () => chat(known.friend),
        );
      }
    });
  }

  /** Tells screen readers (the live region reads what is added). @param {string} words */
  function announce(words) {
    ui.announcer.append(el("p", {}, words));
    while (ui.announcer.childElementCount > 3) ui.announcer.firstElementChild?.remove();
  }

  /** @param {string} id */
  function markRead(id) {
    if (!store || !inView(id)) return;
    const keys = store.unread(id).map((e) => e.key);
    if (keys.length) store.markRead(id, keys);
  }

  /**
   * Conversations whose unread lines wait for the "收到新消息" bar, the latest first.
   * @param {import("./store.js").Conversation[]} conversations
   */
  function queued(conversations = store?.conversations() ?? []) {
    const hiddenTabs = ui.win.hidden || chatMinimized || narrow.matches;
    return conversations
      .filter((c) => c.unread > 0 && !inView(c.friend) && (hiddenTabs || !open.includes(c.friend)))
      .filter((c) => friends.has(c.friend))
      .map((c) => c.friend);
  }

  /** Updates every count: friend badges, tabs, the recent list, the bar and the title. */
  function refresh() {
    const conversations = store?.conversations() ?? [];
    unread = new Map(conversations.map((c) => [c.friend, c.unread]));
    for (const [id, known] of friends) {
      const item = known.item;
      if (!item) continue;
      const count = unread.get(id) ?? 0;
      const badgeNode = /** @type {HTMLElement} */ (item.querySelector(".layim-unread"));
      badgeNode.hidden = count === 0;
      badgeNode.textContent = String(count);
      badgeNode.setAttribute("aria-label", `${known.friend.username} 未读消息 ${count}`);
      const status = /** @type {HTMLElement} */ (item.querySelector(".layim-status"));
      status.hidden = !known.status;
      status.setAttribute(
        "aria-label",
        `${known.friend.username} ${known.status === "online" ? "在线" : "离线"}`,
      );
      item.classList.toggle("layim-offline", known.status === "offline");
    }
    for (const [group, { toggle, badge: node }] of groupBadges) {
      const sum = group.list.reduce((n, p) => n + (unread.get(String(p.id)) ?? 0), 0);
      node.hidden = sum === 0 || toggle.getAttribute("aria-expanded") === "true";
      node.textContent = String(sum);
      node.setAttribute("aria-label", `${sum} 条未读`);
    }
    renderTabs();
    renderRecent(conversations);
    renderMsgBar(conversations);
    badge.show(conversations.reduce((n, c) => n + c.unread, 0));
  }

  /** @param {import("./store.js").Conversation[]} conversations */
  function renderRecent(conversations) {
    if (!main) return;
    const list = main.recent;
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    /** @type {Map<string, HTMLElement>} */
    const items = main.recentItems;
    const ids = conversations.filter((c) => friends.has(c.friend)).map((c) => c.friend);
    for (const [id, item] of items) {
      if (!ids.includes(id)) {
        item.remove();
        items.delete(id);
      }
    }
    if (ids.length === 0 && !list.querySelector(".layim-null")) {
      list.append(el("li", { class: "layim-null" }, "暂无历史会话"));
    } else if (ids.length) {
      list.querySelector(".layim-null")?.remove();
    }
    ids.forEach((id, at) => {
      const c = /** @type {import("./store.js").Conversation} */ (
        conversations.find((c) => c.friend === id)
      );
      const { friend } = /** @type {Known} */ (friends.get(id));
      let item = items.get(id);
      if (!item) {
        const button = el("button", {
          type: "button",
          class: "layim-friend",
          "aria-label": `与 ${friend.username} 的会话`,
        });
        button.addEventListener("click", () => chat(friend));
        item = el("li", { class: "layim-friend-item", "data-id": id }, button);
        items.set(id, item);
      }
      const button = /** @type {HTMLElement} */ (item.firstElementChild);
      button.replaceChildren(
        avatar(friend.avatar, "layim-avatar"),
        el(
          "span",
          { class: "layim-friend-text" },
          el("span", { class: "layim-friend-name" }, friend.username),
          el(
            "span",
            { class: "layim-sign" },
            `${c.last.mine ? "我：" : ""}${preview(c.last.content)}`,
          ),
        ),
        el("time", { class: "layim-recent-time" }, formatTime(c.last.timestamp)),
      );
      if (c.unread) {
        button.append(
          el(
            "span",
            { class: "layui-badge", "aria-label": `${c.unread} 条未读` },
            String(c.unread),
          ),
        );
      }
      if (list.children[at] !== item) list.insertBefore(item, list.children[at] ?? null);
    });
    if (focused instanceof HTMLElement && document.activeElement !== focused) focused.focus();
  }

  /** The "收到新消息" bar: the latest sender and the first words. @param {import("./store.js").Conversation[]} conversations */
  function renderMsgBar(conversations) {
    const waiting = queued(conversations);
    const bar = ui.msgBar;
    if (waiting.length === 0) {
      bar.hidden = true;
      return;
    }
    const latest = /** @type {import("./store.js").Conversation} */ (
      conversations.find((c) => c.friend === waiting[0])
    );
    const { friend } = /** @type {Known} */ (friends.get(latest.friend));
    const words = `${friend.username}：${preview(latest.lastReceived?.content ?? "")}`;
    const total = waiting.reduce((n, id) => n + (unread.get(id) ?? 0), 0);
    bar.replaceChildren(
      avatar(friend.avatar, "layim-avatar layim-avatar-sm"),
      el("span", { class: "layim-msg-bar-title" }, "收到新消息"),
      el("cite", {}, words),
      el("span", { class: "layui-badge", "aria-hidden": "true" }, String(total)),
    );
    bar.setAttribute("aria-label", `收到新消息：${words}（共 ${total} 条，点击查看）`);
    if (bar.hidden) {
      bar.hidden = false;
      shake(bar);
    }
  }

  // ---- restoring and coordinating -----------------------------------------------------

  const windowKey = () => `layim-ws:v2:${encodeURIComponent(mine?.id ?? "")}:window`;

  /** Keeps this tab's window layout for a reload (per tab: two tabs may differ). */
  function saveWindow() {
    if (!mine) return;
    try {
      sessionStorage.setItem(
        windowKey(),
        JSON.stringify({
          open,
          active,
          chatMinimized,
          mainMinimized: main ? main.panel.hidden : false,
        }),
      );
    } catch {
      // Not kept: a reload starts with the chat closed.
    }
  }

  /** @typedef {{ open?: string[], active?: string | null, chatMinimized?: boolean, mainMinimized?: boolean }} SavedWindow */

  /** @returns {SavedWindow | null} */
  function loadWindow() {
    try {
      return JSON.parse(sessionStorage.getItem(windowKey()) ?? "null");
    } catch {
      return null;
    }
  }

  /** @param {SavedWindow | null} saved */
  function restoreWindow(saved) {
    if (!saved) return false;
    if (main && saved.mainMinimized !== undefined) setMainMinimized(saved.mainMinimized);
    const ids = (saved.open ?? []).filter((id) => friends.has(id));
    if (ids.length === 0) return true;
    open.push(...ids);
    const last = saved.active && ids.includes(saved.active) ? saved.active : ids[0];
    chat(/** @type {Known} */ (friends.get(last)).friend);
    if (saved.chatMinimized) setChatMinimized(true);
    return true;
  }

  /** @param {import("./store.js").Change} change */
  function onStorage(change) {
    if (change.read) {
      refresh();
      return;
    }
    const entry = change.entry;
    if (!entry) {
      refresh();
      return;
    }
    if (!entry.mine) {
      knownFriend({ id: change.friend, username: entry.username, avatar: entry.avatar });
    }
    if (!friends.has(change.friend)) return;
    takeIn(change.friend, entry, false);
  }

  addEventListener("visibilitychange", () => {
    if (active) markRead(active);
    refresh();
  });

  // Escape closes or minimizes what is on top; focus goes where the person can go on.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    const target = /** @type {Node} */ (event.target);
    if (!ui.picker.hidden) {
      togglePicker(false);
      ui.faceButton.focus();
    } else if (!ui.win.hidden && (ui.win.contains(target) || target === document.body)) {
      if (narrow.matches) closeChat(true);
      else setChatMinimized(true, true);
    } else if (main && !main.panel.hidden && main.panel.contains(target) && !narrow.matches) {
      setMainMinimized(true, true);
    } else {
      return;
    }
    event.preventDefault();
  });

  /** @param {MediaQueryList | MediaQueryListEvent} query */
  const placeholder = (query) => {
    // A touch keyboard's Enter key says 发送 (enterkeyhint); no shortcut to explain there.
    if (!sendDisabled) {
      ui.input.placeholder = query.matches ? "输入消息" : "Enter 发送，Shift+Enter 换行";
    }
    refresh();
  };
  narrow.addEventListener("change", placeholder);

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
      options = { voice: "default.wav", notice: false, maxLength: 3000, ...o };
      mine = toFriend(o.init.mine);
      store = new Store(mine.id);
      store.migrate();
      const saved = loadWindow();
      groups = (o.init.friend ?? o.friend ?? []).map((g) => ({ ...g, list: [...g.list] }));
      friends.clear();
      for (const group of groups) {
        for (const person of group.list) {
          const friend = toFriend(person);
          friends.set(friend.id, { friend });
        }
      }
      if (!options.brief) {
        main = buildMainPanel();
        for (const group of groups) main.contacts.append(groupSection(group));
        setMainMinimized(Boolean(options.min));
      }
      // People known only from the history (临时会话) come back after a reload.
      for (const c of store.conversations()) {
        const from = c.lastReceived;
        knownFriend({ id: c.friend, username: from?.username, avatar: from?.avatar });
      }
      store.subscribe(onStorage);
      placeholder(narrow);
      if (!restoreWindow(saved)) refresh();
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
        /** @type {Entry} */
        const entry = {
          key: `s${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
          mine: false,
          system: true,
          content: String(message.content),
          timestamp: Date.now(),
        };
        transient.set(id, [...(transient.get(id) ?? []), entry]);
        if (id === active && !ui.win.hidden) showInLog(entry);
        return layim;
      }
      const known = knownFriend({ id, username: message.username, avatar: message.avatar });
      const timestamp = typeof message.timestamp === "number" ? message.timestamp : Date.now();
      /** @type {Entry} */
      const entry = {
        key: message.cid
          ? `c${message.cid}`
          : `t${timestamp.toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
        mine: Boolean(message.mine),
        content: String(message.content),
        timestamp,
        username: message.username ?? known.friend.username,
        avatar: message.avatar ?? known.friend.avatar,
      };
      if (message.cid) entry.cid = String(message.cid);
      store?.put(id, entry);
      takeIn(id, entry, true);
      return layim;
    },
    chat,
    setFriendStatus(id, status) {
      const known = friends.get(String(id));
      const next = status === "online" || status === "offline" ? status : undefined;
      if (!known || known.status === next) return layim;
      known.status = next;
      refresh();
      if (active === known.friend.id) renderConversation();
      return layim;
    },
    cache() {
      return { mine, friend: groups };
    },
    setMessageStatus(data, status, reason) {
      const line = sent.get(data);
      if (!line) return layim;
      line.entry.status = status;
      if (reason) line.entry.reason = reason;
      else delete line.entry.reason;
      if (PENDING.has(status)) inProgress.add(line);
      else inProgress.delete(line);
      store?.put(line.friend, line.entry);
      if (line.friend === active && !ui.win.hidden) showInLog(line.entry);
      return layim;
    },
    disableSend(reason) {
      sendDisabled = reason;
      ui.input.disabled = true;
      ui.send.disabled = true;
      ui.faceButton.disabled = true;
      togglePicker(false);
      ui.input.placeholder = reason;
      ui.alert.textContent = reason;
      for (const retry of ui.log.querySelectorAll(".layim-retry")) retry.remove();
      return layim;
    },
  };
  return layim;
}

layui.define((exports) => exports("layim", createLayim()));
