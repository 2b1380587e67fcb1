// @ts-check
/// <reference lib="dom" />
/**
 * What tells a person outside the chat window that a message arrived: LayIM's `voice`
 * sound, LayIM's `notice` desktop notification, and an unread count in the page title and
 * favicon while the tab is hidden.
 *
 * @module
 */

/** Whether the page is in front of the person (not a background tab or minimized window). */
export const pageVisible = () => document.visibilityState === "visible";

/**
 * Runs `alert` in only one of the user's tabs for the same message: every tab receives it,
 * one should ring. The first tab to take the message's lock holds it for a moment.
 * @param {string} id the message's id
 * @param {() => void} alert
 */
export function once(id, alert) {
  if (!navigator.locks) return alert();
  navigator.locks.request(`layim-ws:alert:${id}`, { ifAvailable: true }, (lock) => {
    if (!lock) return;
    alert();
    return new Promise((resolve) => setTimeout(resolve, 3000));
  }).catch(() => {});
}

/**
 * Plays LayIM's `voice`: a file name in the `voice/` folder beside this module, or a URL.
 * @param {string} voice
 */
export function playVoice(voice) {
  const src = new URL(voice.includes("/") ? voice : `voice/${voice}`, import.meta.url).href;
  // Browsers refuse sound before the person has used the page; there is nothing to do then.
  new Audio(src).play().catch(() => {});
}

/** Whether desktop notifications can be shown at all in this browser. */
export const canNotify = () => typeof Notification === "function";

/**
 * Shows a desktop notification (permission must already be granted); a click brings the
 * page to the front and calls `onClick`.
 * @param {{ title: string, body: string, icon?: string, tag: string }} message
 * @param {() => void} onClick
 */
export function notify({ title, body, icon, tag }, onClick) {
  if (!canNotify() || Notification.permission !== "granted") return;
  try {
    const notification = new Notification(title, icon ? { body, icon, tag } : { body, tag });
    notification.onclick = () => {
      focus();
      onClick();
      notification.close();
    };
  } catch {
    // Some browsers only notify from a service worker: the title and sound still tell.
  }
}

/** The page title and favicon, with an unread count while the tab is hidden. */
export class TabBadge {
  #title = document.title;
  /** @type {HTMLLinkElement | null} */
  #icon = document.querySelector('link[rel~="icon"]');
  #iconHref = this.#icon?.getAttribute("href") ?? null;
  #shown = 0;

  /** @param {number} unread */
  show(unread) {
    const count = pageVisible() ? 0 : unread;
    if (count === this.#shown) return;
    if (this.#shown === 0) this.#title = document.title;
    this.#shown = count;
    document.title = count ? `(${count > 99 ? "99+" : count}) ${this.#title}` : this.#title;
    if (!this.#icon) return;
    if (count) {
      this.#icon.href = badgeIcon(count);
    } else if (this.#iconHref !== null) {
      this.#icon.setAttribute("href", this.#iconHref);
    }
  }
}

/** A 32×32 red disc with the count, as a PNG data URL. @param {number} count */
function badgeIcon(count) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 32;
  const g = canvas.getContext("2d");
  if (!g) return "data:,";
  g.fillStyle = "#ff5722";
  g.beginPath();
  g.arc(16, 16, 16, 0, 2 * Math.PI);
  g.fill();
  g.fillStyle = "#fff";
  g.font = "bold 18px sans-serif";
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(count > 9 ? "9+" : String(count), 16, 17);
  return canvas.toDataURL("image/png");
}
