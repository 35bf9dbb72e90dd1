/* The ContextDesk chat panel (inside the iframe that widget.js adds to a site).
 *
 * It exchanges the site's signed identity once for a short-lived conversation token and keeps the token in memory
 * only. It follows the conversation's event log (GET /v1/conversations/{id}/events, resumed by the last event id)
 * when the server has it, and otherwise falls back to the SSE reply of POST /messages plus polling the transcript.
 * Model, help-center and agent text is rendered through a small allowlist markdown renderer that builds DOM nodes
 * (never HTML): links http/https/mailto only, no images, no raw HTML.
 */
(function () {
  "use strict";

  var params = new URLSearchParams(location.search);
  var PARENT = params.get("origin") || "";
  try {
    if (new URL(PARENT).origin !== PARENT) PARENT = "";
  } catch (err) {
    PARENT = "";
  }
  var SITE = params.get("site") || "";
  var STORE_KEY = "contextdesk:" + SITE;
  var POLL_MS = 3000;

  var $ = function (id) {
    return document.getElementById(id);
  };
  var log = $("log");
  var draft = $("draft");
  var input = $("input");
  var sendButton = $("send");
  var stopButton = $("stop");
  var typing = $("typing");
  var banner = $("banner");
  var restart = $("restart");
  var scroller = $("scroller");

  var S = {}; // UI strings of the picked language
  var cfg = null;
  var identity = {}; // what the site passed to boot(); kept in memory for "new conversation"
  var token = null; // the conversation token: memory only
  var conv = null;
  var mode = null; // "events" (the event log) or "legacy" (SSE reply + polling)
  var lastSeq = 0;
  var seen = {}; // message ids already shown
  var isOpen = false;
  var unread = 0;
  var convState = "bot";
  var humanName = null;
  var inFlight = null; // AbortController of the reply being streamed (legacy) or null
  var liveAbort = null; // AbortController of the event stream
  var drafts = {}; // turn id -> draft bubble
  var skipNextAssistant = false;
  var lastStopped = null; // {el, text} of a reply stopped mid-way (its stored part may follow)
  var pendingEcho = [];
  var generation = 0; // bumps at every boot: late answers of an older session are dropped
  var refreshTimer = null;
  var pollTimer = null;

  function post(message) {
    if (PARENT && window.parent !== window) window.parent.postMessage(message, PARENT);
  }

  function t(key, values) {
    var text = S[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(values[name]);
    });
    return text;
  }

  // --- safe rendering ---------------------------------------------------------------------------------------------

  var SAFE_LINK = /^(https?:\/\/|mailto:)/i;

  function safeHref(url) {
    var text = String(url || "").trim();
    if (!SAFE_LINK.test(text)) return null;
    try {
      var parsed = new URL(text);
      if (["http:", "https:", "mailto:"].indexOf(parsed.protocol) < 0) return null;
      return parsed.href;
    } catch (err) {
      return null;
    }
  }

  function link(href, label) {
    var a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    a.textContent = label;
    return a;
  }

  // Inline markdown: **bold**, *em* / _em_, `code`, [text](url), bare URLs. Images become their alt text.
  var INLINE = /(!?)\[([^\]\n]{0,300})\]\(([^)\s]{1,2000})\)|\*\*([^*\n]+)\*\*|`([^`\n]+)`|\*([^*\n]+)\*|\b_([^_\n]+)_\b|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

  function inline(parent, text) {
    var last = 0;
    var m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(text))) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[3] !== undefined) {
        var href = m[1] ? null : safeHref(m[3]);
        if (href) parent.appendChild(link(href, m[2] || href));
        else parent.appendChild(document.createTextNode(m[2])); // image or unsafe link: its text only
      } else if (m[4] !== undefined) {
        var b = document.createElement("strong");
        b.textContent = m[4];
        parent.appendChild(b);
      } else if (m[5] !== undefined) {
        var c = document.createElement("code");
        c.textContent = m[5];
        parent.appendChild(c);
      } else if (m[6] !== undefined || m[7] !== undefined) {
        var em = document.createElement("em");
        em.textContent = m[6] !== undefined ? m[6] : m[7];
        parent.appendChild(em);
      } else if (m[8] !== undefined) {
        var bare = safeHref(m[8]);
        parent.appendChild(bare ? link(bare, m[8]) : document.createTextNode(m[8]));
      }
      last = INLINE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function markdown(text) {
    var out = document.createDocumentFragment();
    var blocks = String(text || "").replace(/\r\n?/g, "\n").split(/\n{2,}/);
    blocks.forEach(function (block) {
      var lines = block.split("\n").filter(function (l) {
        return l.trim() !== "";
      });
      if (!lines.length) return;
      var bullet = /^\s*[-*•]\s+/;
      var numbered = /^\s*\d+[.)]\s+/;
      var isList = lines.every(function (l) {
        return bullet.test(l);
      });
      var isOrdered = !isList && lines.every(function (l) {
        return numbered.test(l);
      });
      if (isList || isOrdered) {
        var list = document.createElement(isList ? "ul" : "ol");
        lines.forEach(function (l) {
          var li = document.createElement("li");
          inline(li, l.replace(isList ? bullet : numbered, ""));
          list.appendChild(li);
        });
        out.appendChild(list);
        return;
      }
      var p = document.createElement("p");
      lines.forEach(function (l, i) {
        if (i) p.appendChild(document.createElement("br"));
        inline(p, l.replace(/^#{1,6}\s+/, ""));
      });
      out.appendChild(p);
    });
    return out;
  }

  function citations(list) {
    var usable = (list || []).filter(function (c) {
      return c && safeHref(c.url);
    });
    if (!usable.length) return null;
    var box = document.createElement("div");
    box.className = "sources";
    var label = document.createElement("span");
    label.textContent = t("sources") + ":";
    box.appendChild(label);
    usable.forEach(function (c) {
      var title = (c.marker ? "[" + c.marker + "] " : "") + (c.title || c.url);
      box.appendChild(link(safeHref(c.url), title));
    });
    return box;
  }

  function bubble(role, content, author, cites) {
    var el = document.createElement("div");
    el.className = "msg " + (["customer", "assistant", "human", "system"].indexOf(role) >= 0 ? role : "system");
    var who = document.createElement("span");
    who.className = role === "customer" ? "sr-only" : "author";
    who.textContent = role === "customer" ? t("you") + ":" : role === "human" ? author || t("team") : t("assistant");
    if (role !== "system") el.appendChild(who);
    el.appendChild(role === "customer" ? textParagraph(content) : markdown(content));
    var sources = citations(cites);
    if (sources) el.appendChild(sources);
    return el;
  }

  function textParagraph(content) {
    var p = document.createElement("p");
    p.textContent = content;
    return p;
  }

  function scrollDown() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  // --- messages and state -----------------------------------------------------------------------------------------

  function showMessage(m) {
    var id = m.id;
    if (id != null && seen[id]) return;
    if (id != null) seen[id] = true;
    var author = m.author_name || m.author || null;
    if (m.role === "customer" && pendingEcho.length) {
      var echo = pendingEcho.shift();
      if (echo.parentNode) return; // the echo already stands for it
    }
    if (m.role === "assistant" && skipNextAssistant) {
      skipNextAssistant = false;
      lastStopped = null;
      return;
    }
    if (m.role === "assistant") clearDrafts();
    var shown = bubble(m.role, m.content, author, m.citations);
    if (m.role === "assistant" && lastStopped && sameStart(lastStopped.text, m.content)) {
      // The stored part of a stopped reply: it replaces the bubble already shown, never a second copy.
      shown.appendChild(stoppedNote());
      log.replaceChild(shown, lastStopped.el);
      lastStopped = null;
      return;
    }
    lastStopped = null;
    log.appendChild(shown);
    if (m.role === "human") {
      humanName = author;
      if (convState === "handoff" || convState === "waiting_for_human") setState("with_human");
    }
    if (m.role !== "customer") {
      typing.hidden = true;
      if (!isOpen || document.visibilityState === "hidden") {
        unread += 1;
        post({ type: "unread", count: unread, label: t("unread", { count: unread }) });
      }
      post({ type: "event", name: "message", data: { role: m.role, author: m.role === "human" ? author : null } });
    }
    scrollDown();
  }

  function clearDrafts() {
    drafts = {};
    while (draft.firstChild) draft.removeChild(draft.firstChild);
    log.setAttribute("aria-busy", "false");
  }

  function draftFor(turnId) {
    var key = String(turnId);
    if (!drafts[key]) {
      var el = bubble("assistant", "", null, null);
      el.appendChild(document.createElement("p"));
      drafts[key] = { el: el, text: "" };
      draft.appendChild(el);
      log.setAttribute("aria-busy", "true");
    }
    return drafts[key];
  }

  function appendDraft(turnId, text) {
    var d = draftFor(turnId);
    d.text += text;
    var body = d.el.lastChild;
    while (body.firstChild) body.removeChild(body.firstChild);
    body.appendChild(markdown(d.text));
    typing.hidden = true;
    scrollDown();
  }

  function stoppedNote() {
    var note = document.createElement("p");
    note.className = "stopped";
    note.textContent = t("stopped");
    return note;
  }

  function sameStart(a, b) {
    var x = String(a || "").replace(/\s+/g, " ").trim();
    var y = String(b || "").replace(/\s+/g, " ").trim();
    return !!x && !!y && (x.indexOf(y) === 0 || y.indexOf(x) === 0);
  }

  function finishStopped(turnId) {
    var d = drafts[String(turnId)];
    if (d && d.text) {
      var el = bubble("assistant", d.text, null, null);
      el.appendChild(stoppedNote());
      log.appendChild(el);
      lastStopped = { el: el, text: d.text };
    } else {
      // The stored part arrived first: mark the last reply as stopped.
      var replies = log.querySelectorAll(".msg.assistant");
      var last = replies[replies.length - 1];
      if (last && !last.querySelector(".stopped")) last.appendChild(stoppedNote());
    }
    clearDrafts();
    busy(false);
  }

  function formatOpening(iso) {
    try {
      return new Intl.DateTimeFormat(cfg.language, { weekday: "long", hour: "numeric", minute: "2-digit" }).format(
        new Date(iso)
      );
    } catch (err) {
      return iso;
    }
  }

  function setState(state, expected) {
    // The engine's states and the older conversation states both map here.
    if (state === "handoff") state = humanName ? "with_human" : "waiting_for_human";
    if (state === "closed") state = "resolved";
    convState = state;
    banner.classList.remove("resolved");
    restart.hidden = state !== "resolved";
    if (state === "waiting_for_human") {
      var eta = expected || (cfg && cfg.open_now ? t("waiting", { eta: t("waiting_soon") }) : awayText());
      showBanner(eta);
    } else if (state === "with_human") {
      showBanner(t("with_human", { name: humanName || t("team") }));
    } else if (state === "resolved") {
      banner.classList.add("resolved");
      showBanner(t("resolved"));
    } else if (cfg && !cfg.open_now) {
      banner.hidden = true;
    } else {
      banner.hidden = true;
    }
    post({ type: "event", name: "state", data: { state: state } });
  }

  function awayText() {
    return t("away", { opening: formatOpening(cfg.next_opening) });
  }

  function showBanner(text) {
    if (banner.textContent !== text) banner.textContent = text;
    banner.hidden = false;
  }

  function busy(on) {
    sendButton.hidden = on;
    stopButton.hidden = !on;
    if (on) {
      typing.hidden = false;
      stopButton.focus({ preventScroll: true });
    } else {
      typing.hidden = true;
      if (document.activeElement === stopButton) input.focus();
    }
  }

  // --- HTTP -------------------------------------------------------------------------------------------------------

  function api(path, options) {
    options = options || {};
    var headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (token) headers.Authorization = "Bearer " + token;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: options.method || (options.body !== undefined ? "POST" : "GET"),
      headers: headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      signal: options.signal,
      credentials: "omit",
      cache: "no-store",
    });
  }

  // A minimal SSE parser over a fetch body (EventSource cannot send the token in a header).
  function readSSE(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
        var end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          var raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          var ev = { id: null, event: "message", data: [] };
          raw.split("\n").forEach(function (line) {
            if (!line || line[0] === ":") return;
            var colon = line.indexOf(":");
            var field = colon < 0 ? line : line.slice(0, colon);
            var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "id") ev.id = value;
            else if (field === "event") ev.event = value;
            else if (field === "data") ev.data.push(value);
          });
          if (ev.data.length) {
            var data;
            try {
              data = JSON.parse(ev.data.join("\n"));
            } catch (err) {
              continue;
            }
            onEvent(ev.event, data, ev.id);
          }
        }
        return pump();
      });
    }
    return pump();
  }

  // --- the event log (when the server has it) ---------------------------------------------------------------------

  function onLogEvent(kind, data, seq) {
    if (seq !== null && seq !== undefined) {
      var n = Number(seq);
      if (n <= lastSeq) return; // replayed after a reconnect: already shown
      lastSeq = n;
    }
    if (kind === "message") showMessage(data);
    else if (kind === "sentence") appendDraft(data.turn_id, (drafts[String(data.turn_id)] ? " " : "") + data.text);
    else if (kind === "turn_done") {
      if (data && data.state) setState(data.state);
      busy(false);
      clearDrafts();
    } else if (kind === "turn_stopped") finishStopped(data.turn_id);
    else if (kind === "state") {
      if (data.state === "bot" && convState !== "bot") humanName = null;
      setState(data.state, data.expected_reply);
    } else if (kind === "typing") {
      var label = $("typing-text");
      label.textContent = t("typing");
      typing.hidden = false;
    }
  }

  function followLog(myGeneration, delay) {
    if (myGeneration !== generation) return;
    liveAbort = new AbortController();
    var headers = { Accept: "text/event-stream" };
    if (lastSeq) headers["Last-Event-ID"] = String(lastSeq);
    api("/v1/conversations/" + conv + "/events", { headers: headers, signal: liveAbort.signal })
      .then(function (r) {
        if (!r.ok) throw new Error("events " + r.status);
        $("subtitle").textContent = subtitle();
        return readSSE(r, function (kind, data, id) {
          if (myGeneration === generation) onLogEvent(kind, data, id);
        });
      })
      .catch(function () {
        return null;
      })
      .then(function () {
        if (myGeneration !== generation) return;
        // The connection dropped (or ended): resume from the last event id, backing off a little.
        $("subtitle").textContent = t("reconnecting");
        var wait = Math.min((delay || 500) * 2, 8000);
        setTimeout(function () {
          followLog(myGeneration, wait);
        }, delay || 500);
      });
  }

  function loadHistory(myGeneration) {
    return api("/v1/conversations/" + conv + "/events?after=0&format=json").then(function (r) {
      if (myGeneration !== generation) return;
      if (r.ok) {
        mode = "events";
        return r.json().then(function (body) {
          (body.events || []).forEach(function (e) {
            onLogEvent(e.kind, e.data, e.seq);
          });
          clearDrafts();
          followLog(myGeneration, 500);
        });
      }
      mode = "legacy";
      return poll(myGeneration);
    });
  }

  // --- the fallback: the transcript polled, the reply streamed on POST /messages ---------------------------------

  function poll(myGeneration) {
    if (myGeneration !== generation) return Promise.resolve();
    return api("/v1/conversations/" + conv)
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (body) {
        if (!body || myGeneration !== generation) return;
        if (!inFlight) {
          body.messages.forEach(function (m) {
            if (m.role === "system") return;
            showMessage(m);
          });
        }
        var state = body.conversation.state;
        var mapped = state === "closed" ? "resolved" : state === "handoff" ? "handoff" : "bot";
        if (mapped !== "bot" || convState !== "bot") {
          if (mapped === "bot") humanName = null;
          if (mapped !== convState && !(mapped === "handoff" && /human/.test(convState))) setState(mapped);
        }
      })
      .catch(function () {
        return null;
      })
      .then(function () {
        clearTimeout(pollTimer);
        pollTimer = setTimeout(function () {
          poll(myGeneration);
        }, POLL_MS);
      });
  }

  function sendLegacy(content, myGeneration) {
    inFlight = new AbortController();
    var controller = inFlight;
    var turnKey = "local";
    return api("/v1/conversations/" + conv + "/messages", {
      body: { content: content },
      headers: { Accept: "text/event-stream" },
      signal: controller.signal,
    })
      .then(function (r) {
        if (!r.ok) return r.json().then(function (e) {
          throw new Error(e.detail || t("error"));
        });
        return readSSE(r, function (kind, data) {
          if (myGeneration !== generation) return;
          if (kind === "token") appendDraft(turnKey, data.text);
          else if (kind === "final") {
            seen[data.message_id] = true;
            clearDrafts();
            if (data.reply) showMessage({ id: data.reply_message_id, role: "assistant", content: data.reply, citations: data.citations });
            if (data.state) setState(data.state);
          }
        });
      })
      .catch(function (err) {
        if (controller.signal.aborted) {
          skipNextAssistant = true; // the server finished it; the customer asked us not to show the rest
          finishStopped(turnKey);
        } else {
          clearDrafts();
          log.appendChild(bubble("system", err.message || t("error")));
        }
      })
      .then(function () {
        if (inFlight === controller) inFlight = null;
        busy(false);
      });
  }

  // --- sending, stopping ------------------------------------------------------------------------------------------

  function send(content) {
    if (!conv || !content.trim()) return;
    var echo = bubble("customer", content);
    log.appendChild(echo);
    scrollDown();
    busy(true);
    if (convState === "resolved") setState("bot");
    if (mode === "events") {
      pendingEcho.push(echo);
      api("/v1/conversations/" + conv + "/messages", {
        body: { content: content },
        headers: { Prefer: "respond-async" },
      })
        .then(function (r) {
          if (!r.ok) return r.json().then(function (e) {
            throw new Error(e.detail || t("error"));
          });
        })
        .catch(function (err) {
          busy(false);
          log.appendChild(bubble("system", err.message || t("error")));
        });
    } else {
      sendLegacy(content, generation);
    }
  }

  function stop() {
    if (mode === "events") {
      api("/v1/conversations/" + conv + "/stop", { body: {} }).catch(function () {
        return null;
      });
    } else if (inFlight) {
      inFlight.abort();
    }
  }

  // --- session ----------------------------------------------------------------------------------------------------

  function stored() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch (err) {
      return {};
    }
  }

  function remember(value) {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(value));
    } catch (err) {
      /* storage refused (private mode): history then lasts for this page only */
    }
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function reset() {
    generation += 1;
    if (liveAbort) liveAbort.abort();
    if (inFlight) inFlight.abort();
    clearTimeout(refreshTimer);
    clearTimeout(pollTimer);
    token = null;
    conv = null;
    mode = null;
    lastSeq = 0;
    seen = {};
    humanName = null;
    pendingEcho = [];
    skipNextAssistant = false;
    lastStopped = null;
    clearDrafts();
    while (log.firstChild) log.removeChild(log.firstChild);
    unread = 0;
    post({ type: "unread", count: 0 });
    convState = "bot";
    banner.hidden = true;
    restart.hidden = true;
    busy(false);
  }

  function scheduleRefresh(expiresAt, myGeneration) {
    var wait = Math.max(new Date(expiresAt).getTime() - Date.now() - 60000, 5000);
    refreshTimer = setTimeout(function () {
      if (myGeneration !== generation) return;
      api("/v1/widget/session/refresh", { body: {} })
        .then(function (r) {
          return r.ok ? r.json() : null;
        })
        .then(function (s) {
          if (!s || myGeneration !== generation) return;
          token = s.token;
          scheduleRefresh(s.expires_at, myGeneration);
        });
    }, wait);
  }

  function subtitle() {
    if (cfg && !cfg.open_now) return t("away", { opening: formatOpening(cfg.next_opening) }).split(".")[0] + ".";
    return document.documentElement.dataset.verified === "true" ? t("verified") : "";
  }

  function boot(who, resume) {
    reset();
    identity = who || {};
    var myGeneration = generation;
    var keep = stored();
    if (!keep.visitor_id) keep.visitor_id = randomId();
    var body = {
      user_id: identity.user_id,
      email: identity.email,
      user_hash: identity.user_hash,
      identity_token: identity.jwt,
      name: identity.name,
    };
    if (resume !== false && keep.conversation_id && keep.ticket) {
      body.resume = { conversation_id: keep.conversation_id, ticket: keep.ticket };
    }
    return api("/v1/widget/session", { body: body })
      .then(function (r) {
        if (!r.ok) throw new Error("session " + r.status);
        return r.json();
      })
      .then(function (s) {
        if (myGeneration !== generation) return;
        token = s.token;
        conv = s.conversation_id;
        keep.conversation_id = s.conversation_id;
        keep.ticket = s.resume_ticket;
        remember(keep);
        scheduleRefresh(s.expires_at, myGeneration);
        document.documentElement.dataset.verified = String(s.verified);
        if (!s.resumed) log.appendChild(bubble("assistant", t("greeting")));
        post({ type: "event", name: "ready", data: { verified: s.verified } });
        setState(s.state);
        $("subtitle").textContent = subtitle();
        return loadHistory(myGeneration);
      })
      .catch(function () {
        if (myGeneration === generation) log.appendChild(bubble("system", t("error")));
      });
  }

  // --- the host page --------------------------------------------------------------------------------------------

  window.addEventListener("message", function (event) {
    // Only the page that framed us, from the origin it said it has.
    if (!PARENT || event.source !== window.parent || event.origin !== PARENT) return;
    var m = event.data;
    if (!m || typeof m !== "object") return;
    if (m.type === "boot") boot(m.identity && typeof m.identity === "object" ? m.identity : {});
    else if (m.type === "open") {
      isOpen = true;
      unread = 0;
      post({ type: "unread", count: 0 });
      setTimeout(function () {
        input.focus();
      }, 0);
    } else if (m.type === "close") isOpen = false;
    else if (m.type === "shutdown") {
      // Logout: forget the conversation, the visitor id and the token.
      try {
        localStorage.removeItem(STORE_KEY);
      } catch (err) {
        /* nothing stored */
      }
      reset();
      identity = {};
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      post({ type: "close" });
    } else if (event.key === "Tab") {
      // Keep focus inside the dialog (it is modal while open).
      var items = Array.prototype.filter.call(
        document.querySelectorAll("button, textarea, a[href]"),
        function (el) {
          return !el.hidden && !el.disabled && el.offsetParent !== null;
        }
      );
      if (!items.length) return;
      var first = items[0];
      var last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }
  });

  $("close").addEventListener("click", function () {
    post({ type: "close" });
  });
  $("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var content = input.value;
    if (!content.trim() || !stopButton.hidden) return;
    input.value = "";
    send(content);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  stopButton.addEventListener("click", stop);
  restart.addEventListener("click", function () {
    var keep = stored();
    delete keep.conversation_id;
    delete keep.ticket;
    remember(keep);
    boot(identity, false).then(function () {
      input.focus();
    });
  });

  function applyConfig(c) {
    cfg = c;
    S = c.strings || {};
    document.documentElement.lang = c.language || "en";
    if (/^#[0-9a-fA-F]{6}$/.test(c.color)) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(":root { --accent: " + c.color + "; }");
      document.adoptedStyleSheets = [sheet];
    }
    $("title").textContent = c.business_name || t("title");
    document.title = c.business_name || t("title");
    $("close").setAttribute("aria-label", t("close"));
    $("input-label").textContent = t("placeholder");
    input.placeholder = t("placeholder");
    sendButton.textContent = t("send");
    stopButton.textContent = t("stop");
    restart.textContent = t("new_conversation");
    $("typing-text").textContent = t("typing");
    post({ type: "config", color: c.color, position: c.position, launcher: t("launcher"), title: t("title") });
  }

  var query = new URLSearchParams({ site: SITE });
  if (params.get("lang")) query.set("lang", params.get("lang"));
  api("/v1/widget/config?" + query.toString())
    .then(function (r) {
      return r.json();
    })
    .then(applyConfig)
    .catch(function () {
      applyConfig({ strings: {}, open_now: true, language: "en" });
    })
    .then(function () {
      post({ type: "ready" });
    });
})();
