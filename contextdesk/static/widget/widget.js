/* ContextDesk chat widget loader: <script src="https://HOST/widget.js" data-site="…" async></script>
 *
 * It adds a launcher button in a shadow root (styles through constructable stylesheets: no inline styles or
 * scripts, so it runs under a site's strict CSP) and the chat panel, an iframe served by ContextDesk under its own
 * CSP. The iframe holds the conversation token; this page only talks to it through postMessage, with the exact
 * origin checked both ways. Public API: ContextDesk.boot({user_id, email, user_hash | jwt, name}), open(), close(),
 * shutdown(), on(event, fn). Set data-boot="manual" to wait for boot(); otherwise the visitor is booted at once.
 */
(function () {
  "use strict";
  if (window.ContextDesk && window.ContextDesk.version) return;

  var script = document.currentScript || document.querySelector("script[src$='/widget.js']");
  if (!script) return;
  var HOST = new URL(script.src, location.href).origin;
  var SITE = script.getAttribute("data-site") || "";
  var MANUAL = script.getAttribute("data-boot") === "manual";
  var COLOR = /^#[0-9a-fA-F]{6}$/;

  var CSS = [
    ":host { all: initial; }",
    ".root { --cd-accent: #2457d6; position: fixed; bottom: 20px; right: 20px; z-index: 2147483000;",
    "  font: 15px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }",
    ".root.left { right: auto; left: 20px; }",
    ".launcher { display: inline-flex; align-items: center; gap: 8px; border: 0; border-radius: 999px;",
    "  padding: 12px 18px; background: var(--cd-accent); color: #fff; font: inherit; font-weight: 600;",
    "  cursor: pointer; box-shadow: 0 6px 20px rgba(0,0,0,.22); position: relative; }",
    ".launcher:focus-visible { outline: 3px solid #111; outline-offset: 3px; }",
    ".launcher svg { width: 20px; height: 20px; fill: currentColor; }",
    ".badge { position: absolute; top: -6px; right: -6px; min-width: 20px; height: 20px; border-radius: 10px;",
    "  background: #d11a2a; color: #fff; font-size: 12px; line-height: 20px; text-align: center; padding: 0 5px;",
    "  box-sizing: border-box; }",
    ".badge[hidden], .panel[hidden] { display: none; }",
    ".panel { position: absolute; bottom: 64px; right: 0; width: 380px; height: min(620px, calc(100vh - 110px));",
    "  border-radius: 14px; overflow: hidden; background: #fff; box-shadow: 0 12px 40px rgba(0,0,0,.28); }",
    ".root.left .panel { right: auto; left: 0; }",
    ".panel iframe { border: 0; width: 100%; height: 100%; display: block; }",
    ".root.open .launcher { display: none; }",
    ".root.open .panel { bottom: 0; }",
    "@media (max-width: 480px) {",
    "  .root.open { inset: 0; }",
    "  .root.open .panel { position: fixed; inset: 0; width: 100%; height: 100%; border-radius: 0; }",
    "}",
  ].join("\n");

  var host = document.createElement("div");
  host.setAttribute("data-contextdesk", "");
  var shadow = host.attachShadow({ mode: "open" });
  var sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  var theme = new CSSStyleSheet();
  shadow.adoptedStyleSheets = [sheet, theme];

  var root = document.createElement("div");
  root.className = "root";
  var launcher = document.createElement("button");
  launcher.type = "button";
  launcher.className = "launcher";
  launcher.setAttribute("aria-haspopup", "dialog");
  launcher.setAttribute("aria-expanded", "false");
  // Built node by node: no HTML parsing, so a site enforcing Trusted Types is fine too.
  var SVG = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(SVG, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  icon.setAttribute("focusable", "false");
  var path = document.createElementNS(SVG, "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z");
  icon.appendChild(path);
  launcher.appendChild(icon);
  var label = document.createElement("span");
  label.textContent = "Chat";
  launcher.appendChild(label);
  var badge = document.createElement("span");
  badge.className = "badge";
  badge.hidden = true;
  launcher.appendChild(badge);

  var panel = document.createElement("div");
  panel.className = "panel";
  panel.hidden = true;
  var frame = document.createElement("iframe");
  frame.title = "Chat";
  frame.setAttribute("allow", "clipboard-write");
  var query = new URLSearchParams({ site: SITE, origin: location.origin, lang: navigator.language || "" });
  frame.src = HOST + "/widget/frame?" + query.toString();
  panel.appendChild(frame);
  root.appendChild(panel);
  root.appendChild(launcher);
  shadow.appendChild(root);

  var ready = false;
  var queue = [];
  var listeners = {};
  var isOpen = false;

  function send(message) {
    if (!ready) {
      queue.push(message);
      return;
    }
    frame.contentWindow.postMessage(message, HOST);
  }

  function emit(name, data) {
    (listeners[name] || []).slice().forEach(function (fn) {
      try {
        fn(data);
      } catch (err) {
        setTimeout(function () {
          throw err;
        });
      }
    });
  }

  function open() {
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    root.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    send({ type: "open" });
    frame.focus();
    emit("open", {});
  }

  function close() {
    if (!isOpen) return;
    isOpen = false;
    root.classList.remove("open");
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    send({ type: "close" });
    launcher.focus();
    emit("close", {});
  }

  function applyConfig(cfg) {
    if (cfg.color && COLOR.test(cfg.color)) theme.replaceSync(".root { --cd-accent: " + cfg.color + "; }");
    root.classList.toggle("left", cfg.position === "left");
    if (typeof cfg.launcher === "string" && cfg.launcher) {
      label.textContent = cfg.launcher;
    }
    if (typeof cfg.title === "string" && cfg.title) frame.title = cfg.title;
  }

  window.addEventListener("message", function (event) {
    // Only our iframe, from our origin: any other window (or a frame that navigated away) is ignored.
    if (event.origin !== HOST || event.source !== frame.contentWindow) return;
    var m = event.data;
    if (!m || typeof m !== "object" || typeof m.type !== "string") return;
    if (m.type === "ready") {
      ready = true;
      var pending = queue;
      queue = [];
      pending.forEach(send);
    } else if (m.type === "config") {
      applyConfig(m);
    } else if (m.type === "unread") {
      var count = Number(m.count) || 0;
      badge.hidden = count === 0;
      badge.textContent = count > 9 ? "9+" : String(count);
      launcher.setAttribute("aria-label", label.textContent + (count ? " (" + (m.label || count) + ")" : ""));
      emit("unread", { count: count });
    } else if (m.type === "close") {
      close();
    } else if (m.type === "event" && typeof m.name === "string") {
      emit(m.name, m.data || {});
    }
  });

  launcher.addEventListener("click", open);
  root.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen) close();
  });

  function clean(identity) {
    var out = {};
    ["user_id", "email", "user_hash", "jwt", "name"].forEach(function (key) {
      if (identity && typeof identity[key] === "string" && identity[key]) out[key] = identity[key];
    });
    return out;
  }

  window.ContextDesk = {
    version: 1,
    boot: function (identity) {
      send({ type: "boot", identity: clean(identity) });
    },
    open: open,
    close: close,
    shutdown: function () {
      close();
      send({ type: "shutdown" });
    },
    on: function (name, fn) {
      if (typeof fn !== "function") return;
      (listeners[name] = listeners[name] || []).push(fn);
    },
  };

  (document.body || document.documentElement).appendChild(host);
  if (!MANUAL) window.ContextDesk.boot(window.ContextDeskSettings || {});
})();
