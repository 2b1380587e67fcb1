// The part of layui's global (layui@2.13.6, loaded from /layui/layui.js) the page uses.

/** Registers a module's API under its name (the `exports` of `layui.define`). */
type LayuiExports = (name: string, api: unknown) => void;

/** The layui global. */
declare const layui: {
  define(callback: (exports: LayuiExports) => void): unknown;
  use(module: string, callback: (api: never) => void): unknown;
};
