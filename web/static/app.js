// labspace UI: progressive enhancements only; every page works without it.
// Live phases (polling small JSON endpoints), log following, and the
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
      why.textContent = it.message || (it.reason ? "" : "No details.");
      if (it.reason) why.appendChild(el("code", { class: "reason" }, it.reason));
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

  function repeat(fn) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } catch (e) { /* try again next tick */ } finally { busy = false; }
    };
    setInterval(tick, POLL_MS);
    document.addEventListener("visibilitychange", tick);
  }

  // The workspaces grid.
  function grid(table) {
    repeat(async () => {
      const data = await getJSON(table.dataset.poll);
      for (const it of data.items) {
        const tr = table.querySelector('tr[data-id="' + CSS.escape(it.id) + '"]');
        if (!tr) continue;
        setBadge(tr.querySelector(".badge"), it, tr.querySelector(".why"));
        const started = tr.querySelector(".started-cell");
        if (started && started.textContent !== it.started) started.textContent = it.started;
        const idle = tr.querySelector(".idle-cell");
        if (idle && idle.textContent !== it.idleFor) idle.textContent = it.idleFor;
        const tools = tr.querySelector(".tools-cell");
        if (JSON.stringify(it.tools) !== tools.dataset.last) {
          tools.dataset.last = JSON.stringify(it.tools);
          setTools(tools, it.tools);
        }
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
