// labspace UI: progressive enhancements only; every page works without it.
// Live phases and grid rows (polling small JSON endpoints), actions posted
// in place, log following, and the
// new-workspace flow's project picker and open variables.
"use strict";

(function () {
  const POLL_MS = 1500;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (res.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("signed out");
    }
    if (!res.ok) throw new Error(res.status + " " + (await res.text()));
    return res.json();
  }

  // setBadge updates a phase badge (and its detail paragraph, if given).
  function setBadge(badge, it, why) {
    if (!badge) return;
    badge.textContent = it.phase;
    badge.dataset.phase = it.phase;
    badge.className = "badge " + it["class"];
    const detail = it.reason ? it.reason + (it.message ? ": " + it.message : "") : "";
    badge.title = detail;
    if (why) {
      // Plain words first, the code beside them for searches and support.
      why.textContent = it.message || it.reason || "No details.";
      if (it.message && it.reason) why.appendChild(el("code", { class: "reason" }, it.reason));
    }
  }

  function setTools(cell, tools) {
    if (!cell) return;
    cell.textContent = "";
    if (!tools.length) cell.appendChild(el("span", { class: "muted" }, "none"));
    for (const t of tools) {
      if (t.url) {
        cell.appendChild(el("a", { class: "button small connect", href: t.url, target: "_blank", rel: "noopener", "data-tool": t.name }, "Connect " + t.name));
      } else {
        cell.appendChild(el("span", { class: "tool off", "data-tool": t.name, title: "Reachable while the workspace runs" }, t.name));
      }
      cell.appendChild(document.createTextNode(" "));
    }
  }

  // repeat runs fn every POLL_MS while the page is seen; it returns a
  // function that runs fn now (after an action, say).
  function repeat(fn) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } catch (e) { /* try again next tick */ } finally { busy = false; }
    };
    setInterval(tick, POLL_MS);
    document.addEventListener("visibilitychange", tick);
    return tick;
  }

  // Relative times ("5 min ago", "in 1 h 20 min"), written again as time
  // passes; web/gridrows.go writes them the same way first.
  function span(ms) {
    const m = Math.floor(ms / 60000), h = Math.floor(m / 60);
    if (m < 60) return m + " min";
    if (h < 24 && m % 60) return h + " h " + (m % 60) + " min";
    if (h < 48) return h + " h";
    return Math.floor(h / 24) + " days";
  }

  function relText(iso, dir, now) {
    if (!iso) return "—";
    const d = dir === "until" ? Date.parse(iso) - now : now - Date.parse(iso);
    if (d < 60000) return dir === "until" ? "any moment" : "just now";
    return dir === "until" ? "in " + span(d) : span(d) + " ago";
  }

  function setTime(t, iso) {
    if (!t || (t.getAttribute("datetime") || "") === iso) return;
    if (iso) {
      t.setAttribute("datetime", iso);
      t.title = iso.slice(0, 16).replace("T", " ") + " UTC";
    } else {
      t.removeAttribute("datetime");
      t.removeAttribute("title");
    }
  }

  function tickTimes(root, now) {
    for (const t of root.querySelectorAll("time[data-rel]")) {
      const text = relText(t.getAttribute("datetime") || "", t.dataset.rel, now);
      if (t.textContent !== text) t.textContent = text;
    }
  }

  // The workspaces grid: phases, actions and times update in place; rows
  // that left go, and the page's rows are fetched again when new ones
  // arrive (so that a row is drawn by the server's template only).
  function grid(table) {
    let skew = 0; // the server's clock less ours, from each poll
    const tbody = table.tBodies[0];
    const result = document.getElementById("result");
    const all = document.getElementById("select-all");
    const count = document.getElementById("selected-count");
    const boxes = () => [...tbody.querySelectorAll('input[type="checkbox"][name="ws"]')];

    const counted = () => {
      const b = boxes(), n = b.filter(x => x.checked).length;
      all.checked = n > 0 && n === b.length;
      all.indeterminate = n > 0 && n < b.length;
      count.textContent = n + " selected:";
      for (const b of document.querySelectorAll("#bulk button")) b.disabled = n === 0;
    };
    all.hidden = false;
    all.addEventListener("change", () => { for (const b of boxes()) b.checked = all.checked; counted(); });
    tbody.addEventListener("change", e => { if (e.target.type === "checkbox") counted(); });
    counted();

    const update = (tr, it) => {
      setBadge(tr.querySelector(".badge"), it, tr.querySelector(".why"));
      setTime(tr.querySelector(".started-cell time"), it.startedAt);
      setTime(tr.querySelector(".lastused-cell time"), it.activeAt);
      setTime(tr.querySelector(".stopsin-cell time"), it.stopsAt);
      const tools = tr.querySelector(".tools-cell");
      if (tools && JSON.stringify(it.tools) !== tools.dataset.last) {
        tools.dataset.last = JSON.stringify(it.tools);
        setTools(tools, it.tools);
      }
      const connects = tr.querySelector(".connects");
      const ready = JSON.stringify(it.tools.filter(t => t.url));
      if (connects && ready !== connects.dataset.last) {
        connects.dataset.last = ready;
        connects.textContent = "";
        for (const t of it.tools) {
          if (!t.url) continue;
          connects.appendChild(el("a", { class: "button small connect", href: t.url, target: "_blank", rel: "noopener", "data-tool": t.name }, "Connect " + t.name));
          connects.appendChild(document.createTextNode(" "));
        }
      }
      for (const b of tr.querySelectorAll("[data-act]")) b.hidden = !it.offer[b.dataset.act];
      const start = tr.querySelector('[data-act="start"]');
      if (start) start.firstChild.nodeValue = it.offer.again ? "Start again" : "Start";
    };

    // rows fetches this page's rows again, keeping what is ticked.
    const rows = async () => {
      const res = await fetch(location.pathname + location.search, { credentials: "same-origin" });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = doc.querySelector("#workspaces tbody");
      if (!fresh) return;
      const ticked = new Set(boxes().filter(b => b.checked).map(b => b.value));
      tbody.replaceChildren(...fresh.childNodes);
      for (const b of boxes()) b.checked = ticked.has(b.value);
      const pager = document.querySelector("nav.pager"), freshPager = doc.querySelector("nav.pager");
      if (pager && freshPager) pager.replaceChildren(...freshPager.childNodes);
      counted();
    };

    const poll = repeat(async () => {
      const data = await getJSON(table.dataset.poll);
      if (data.now) skew = Date.parse(data.now) - Date.now();
      const ids = new Set();
      let arrived = false;
      for (const it of data.items) {
        ids.add(it.id);
        const tr = tbody.querySelector('tr[data-id="' + CSS.escape(it.id) + '"]');
        if (tr) update(tr, it); else arrived = true;
      }
      let left = false;
      for (const tr of tbody.querySelectorAll("tr[data-id]")) {
        if (!ids.has(tr.dataset.id)) { tr.remove(); left = true; }
      }
      if (arrived || (left && !tbody.querySelector("tr[data-id]"))) await rows();
      else if (left) counted();
      tickTimes(table, Date.now() + skew);
    });

    // Start and stop (of a row, or of the ticked rows) are posted in
    // place; a delete goes to its confirmation page as without script.
    document.addEventListener("submit", async e => {
      const form = e.target, button = e.submitter;
      if (!form.matches("#bulk, #rowact") || !button || button.value === "delete") return;
      e.preventDefault();
      const body = new URLSearchParams(new FormData(form, button));
      button.disabled = true;
      try {
        const res = await fetch(form.getAttribute("action"), { method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" } });
        if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); return; }
        const answer = res.ok ? await res.json() : { message: "Nothing was done: " + (await res.text()).trim(), failed: [] };
        result.textContent = answer.message;
        result.hidden = false;
        result.classList.toggle("alert", !res.ok || answer.failed.length > 0);
        if (res.ok && form.id === "bulk") {
          const done = new Set(answer.done);
          for (const b of boxes()) if (done.has(b.value)) b.checked = false;
          counted();
        }
      } catch (err) {
        result.textContent = "The action was not sent: " + err.message;
        result.hidden = false;
      } finally {
        button.disabled = false;
        poll();
      }
    });
  }

  // The workspace page.
  function workspace(section) {
    let seenDesired = section.dataset.desired;
    let lastEvents = -1;
    repeat(async () => {
      const data = await getJSON(section.dataset.poll);
      const it = data.workspace;
      setBadge(section.querySelector(".badge"), it, document.getElementById("why"));
      document.getElementById("keep-running-form").hidden = !it.idle;
      const tools = document.getElementById("tools");
      if (JSON.stringify(it.tools) !== tools.dataset.last) {
        tools.dataset.last = JSON.stringify(it.tools);
        setTools(tools, it.tools);
      }
      document.getElementById("desired").textContent = data.desiredPhase;
      if (data.desiredPhase !== seenDesired) { location.reload(); return; }
      if (data.events.length !== lastEvents) {
        lastEvents = data.events.length;
        const ol = document.getElementById("events");
        ol.textContent = "";
        for (const e of data.events) {
          const li = el("li");
          li.appendChild(el("time", {}, e.time));
          li.appendChild(document.createTextNode(" "));
          li.appendChild(el("b", {}, e.type));
          let rest = "";
          if (e.to) rest += " " + (e.from ? e.from + " → " : "") + e.to;
          if (e.reason) rest += " · " + e.reason;
          if (e.message) rest += " · " + e.message;
          li.appendChild(document.createTextNode(rest + " "));
          li.appendChild(el("span", { class: "muted" }, "(" + e.actor + ")"));
          ol.appendChild(li);
        }
      }
      seenDesired = data.desiredPhase;
    });
  }

  // Logs: read the streamed body as it comes.
  let logsAbort = null;
  async function follow(button) {
    const pre = document.getElementById("logs");
    const state = document.getElementById("logs-state");
    if (logsAbort) logsAbort.abort();
    logsAbort = new AbortController();
    pre.textContent = "";
    state.textContent = "Following…";
    try {
      const res = await fetch(button.dataset.logs, { credentials: "same-origin", signal: logsAbort.signal, headers: { "X-Requested-With": "fetch" } });
      if (!res.ok) { state.textContent = "No logs: " + (await res.text()); return; }
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent += dec.decode(value, { stream: true });
        if (pre.textContent.length > 500000) pre.textContent = pre.textContent.slice(-400000);
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
      const badge = document.querySelector("#status .badge");
      const running = badge && badge.dataset.phase === "Running";
      state.textContent = pre.textContent !== "" ? "The log ended (the workspace stopped, or its output was rotated)."
        : running ? "No output yet." : "No output yet: the workspace is not running.";
    } catch (e) {
      if (e.name !== "AbortError") state.textContent = "Log stream interrupted.";
    }
  }

  // New workspace: choosing a project shows its building blocks; only
  // the open variables of the chosen template / environment are shown.
  function newWorkspace() {
    const sel = document.querySelector("select[data-autosubmit]");
    if (sel) sel.addEventListener("change", () => sel.form.submit());
    const form = document.getElementById("new-workspace");
    if (!form) return;
    const sync = () => {
      const t = form.querySelector('input[name="template"]:checked');
      const e = form.querySelector('input[name="environment"]:checked');
      const chosen = new Set();
      if (t && t.value) chosen.add("template:" + t.value);
      if (e && e.value) chosen.add("environment:" + e.value);
      for (const div of form.querySelectorAll(".open")) {
        const on = chosen.has(div.dataset.for) || div.querySelector(".fielderr") !== null;
        div.hidden = !on;
        for (const i of div.querySelectorAll("input")) i.disabled = !on;
      }
    };
    form.addEventListener("change", sync);
    sync();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.querySelector("table[data-poll]");
    if (table) grid(table);
    const section = document.querySelector("section.status[data-poll]");
    if (section) workspace(section);
    const button = document.getElementById("follow");
    if (button) {
      button.addEventListener("click", () => follow(button));
      follow(button);
    }
    newWorkspace();
  });
})();
