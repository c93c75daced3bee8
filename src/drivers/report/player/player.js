// The step-through player of sharesim's HTML reports and lessons. Per scenario section
// it reads the JSON island the page carries (steps' event ranges, every message with
// its exchange), shows the player's controls, and on each step: highlights the step's
// part of the drawn diagram and scrolls to it, shows the step's note, calls and the
// accounts' state after it (read from the page's own step list), and moves the status
// grid's pair. Clicking an arrow opens the whole exchange behind it. Everything is put
// into the page as text or as clones of the page's own escaped markup, never as HTML.
"use strict";

(function () {
  const players = new Map();
  let active = null;
  let dialog = null;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Events of the diagram, step rules and grid marks, read once per section.
  function makePlayer(section, data) {
    const id = data.id;
    const root = document.getElementById(id + "-player");
    if (!root || data.steps.length === 0) return null;
    const messages = new Map(data.messages.map((m) => [m.seq, m]));
    const answers = new Map();
    data.messages.forEach((m) => {
      if (m.answers !== undefined && m.answers !== null) answers.set(m.answers, m);
    });
    const diagram = section.querySelector("figure.diagram svg");
    const box = section.querySelector("figure.diagram .scroll");
    const seqMarks = diagram ? Array.from(diagram.querySelectorAll("[data-seq]")) : [];
    const stepRules = diagram ? Array.from(diagram.querySelectorAll("g.sd-step[data-step]")) : [];
    const grids = section.querySelector("figure.grids");
    const body = root.querySelector(".player-body");
    if (grids) body.insertBefore(grids, root.querySelector(".player-state"));
    const player = {
      id: id,
      section: section,
      root: root,
      steps: data.steps,
      gate: data.gate === null || data.gate === undefined ? null : data.gate,
      index: 0,
      messages: messages,
      answers: answers,
    };

    function reach() {
      // While a lesson's question is open, the player stops at the question's step.
      if (player.gate === null) return data.steps.length - 1;
      const at = data.steps.findIndex((s) => s.n >= player.gate);
      return at < 0 ? data.steps.length - 1 : at;
    }

    function stepItem(n) {
      return document.getElementById(id + "-step-" + n);
    }

    function showStep(step, gated) {
      const panel = root.querySelector(".player-step");
      const item = stepItem(step.n);
      const fragment = document.createDocumentFragment();
      if (item) {
        Array.from(item.children).forEach((child) => {
          if (child.classList.contains("state") || child.classList.contains("unchanged")) return;
          if (gated && !child.matches("h4, p.note")) return;
          fragment.append(child.cloneNode(true));
        });
      }
      if (gated) {
        fragment.append(element("p", "player-gate", "What happens in this step is revealed once you answer the question."));
      }
      panel.replaceChildren(fragment);
      const statePanel = root.querySelector(".player-state");
      const state = document.createDocumentFragment();
      let shownAt = null;
      const last = gated ? step.n - 1 : step.n;
      for (let n = last; n >= 1 && shownAt === null; n -= 1) {
        const source = stepItem(n);
        const tables = source && source.querySelector(".state");
        if (tables) {
          shownAt = n;
          const title = n === step.n ? "Agreements and tickets after step " + n : "Agreements and tickets after step " + last + (n === last ? "" : " (unchanged since step " + n + ")");
          state.append(element("h5", "player-state-title", title), tables.cloneNode(true));
        }
      }
      if (shownAt === null) state.append(element("p", "empty", "No agreements or tickets yet."));
      statePanel.replaceChildren(state);
    }

    function markDiagram(step, gated) {
      const from = step.note ? step.first - 1 : step.first;
      const to = step.last;
      seqMarks.forEach((mark) => {
        const seq = Number(mark.dataset.seq);
        const now = seq >= from && seq <= to;
        mark.classList.toggle("sd-now", now && !gated);
        mark.classList.toggle("sd-later", seq > to || (gated && now));
        mark.classList.toggle("sd-hidden", player.gate !== null && (seq > to || (gated && now && seq >= step.first)));
      });
      stepRules.forEach((rule) => {
        const n = Number(rule.dataset.step);
        rule.classList.toggle("sd-now", n === step.n);
        rule.classList.toggle("sd-later", n > step.n);
        rule.classList.toggle("sd-hidden", player.gate !== null && n > step.n);
      });
      if (!box) return;
      const target = stepRules.find((r) => Number(r.dataset.step) === step.n) || seqMarks.find((m) => Number(m.dataset.seq) >= from);
      if (!target) return;
      const top = target.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop - 24;
      box.scrollTo({ top: Math.max(0, top), behavior: "smooth" });
    }

    function markGrids(step, gated) {
      if (!grids) return;
      const upto = gated ? step.n - 1 : step.n;
      grids.querySelectorAll("svg.gr").forEach((svg) => {
        const points = Array.from(svg.querySelectorAll(".gr-point"));
        let now = null;
        points.forEach((point) => {
          const at = Number(point.dataset.at);
          if (at <= upto) now = point;
          point.classList.toggle("gr-ahead", at > upto);
          point.classList.toggle("gr-hidden", player.gate !== null && at > upto);
        });
        svg.querySelectorAll(".gr-seg").forEach((seg) => {
          const at = Number(seg.dataset.at);
          seg.classList.toggle("gr-ahead", at > upto);
          seg.classList.toggle("gr-hidden", player.gate !== null && at > upto);
        });
        svg.querySelectorAll(".gr-cell.gr-now").forEach((cell) => cell.classList.remove("gr-now"));
        const cell = now && svg.querySelector('.gr-cell[data-cell="' + now.dataset.cell + '"]');
        if (cell) cell.classList.add("gr-now");
        svg.dataset.now = now ? now.dataset.cell : "";
      });
    }

    player.go = function (index, remember) {
      const limit = reach();
      player.index = Math.max(0, Math.min(index, limit));
      const step = data.steps[player.index];
      const gated = player.gate !== null && step.n >= player.gate;
      root.querySelector(".player-position").textContent =
        "step " + step.n + " of " + data.steps[data.steps.length - 1].n + (gated ? " · answer the question to go on" : "");
      root.querySelector('[data-go="first"]').disabled = player.index === 0;
      root.querySelector('[data-go="prev"]').disabled = player.index === 0;
      root.querySelector('[data-go="next"]').disabled = player.index >= limit;
      root.querySelector('[data-go="last"]').disabled = player.index >= limit;
      section.dataset.step = step.n;
      showStep(step, gated);
      markDiagram(step, gated);
      markGrids(step, gated);
      if (remember) {
        active = player;
        try {
          history.replaceState(null, "", "#" + id + "-step-" + step.n);
        } catch (error) {
          // A page opened from some places may not rewrite its address; stepping still works.
        }
      }
    };

    // A lesson moves the gate as its questions are answered (null: no gate).
    player.setGate = function (gate) {
      player.gate = gate === undefined ? null : gate;
      if (player.gate === null) {
        seqMarks.concat(stepRules).forEach((mark) => mark.classList.remove("sd-hidden"));
        if (grids) grids.querySelectorAll(".gr-hidden").forEach((mark) => mark.classList.remove("gr-hidden"));
      }
      player.go(player.index, false);
    };

    player.goToStep = function (n) {
      const index = data.steps.findIndex((s) => s.n === n);
      if (index >= 0) player.go(index, true);
    };

    root.querySelectorAll("[data-go]").forEach((button) => {
      button.addEventListener("click", () => {
        const to = { first: 0, prev: player.index - 1, next: player.index + 1, last: data.steps.length - 1 }[button.dataset.go];
        player.go(to, true);
      });
    });
    seqMarks
      .filter((mark) => mark.matches("g.sd-msg"))
      .forEach((mark) => {
        mark.setAttribute("tabindex", "0");
        mark.setAttribute("role", "button");
        const open = () => {
          active = player;
          openExchange(player, Number(mark.dataset.seq));
        };
        mark.addEventListener("click", open);
        mark.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            open();
          }
        });
      });
    section.classList.add("playing");
    root.hidden = false;
    return player;
  }

  // The exchange behind an arrow: the request and its answer, each with its headers and
  // pretty-printed body; a message that got no answer says why.
  function openExchange(player, seq) {
    const message = player.messages.get(seq);
    if (!message) return;
    let request = message;
    let answer = player.answers.get(seq) || null;
    if (message.kind === "response") {
      answer = message;
      request = message.answers !== undefined && message.answers !== null ? player.messages.get(message.answers) || null : null;
    }
    const content = document.createDocumentFragment();
    const title = request
      ? request.from + " → " + request.to + ": " + request.method + " " + request.path
      : message.to + " ← " + message.from + ": " + message.method + " " + message.path;
    content.append(part("Request", request, null));
    content.append(part("Answer", answer, message.kind === "request" ? message : null));
    if (!dialog) {
      dialog = element("dialog", "exchange");
      dialog.setAttribute("aria-label", "The exchange behind an arrow");
      document.body.append(dialog);
    }
    const close = element("button", "exchange-close", "Close");
    close.type = "button";
    close.addEventListener("click", () => dialog.close());
    const form = element("div", "exchange-body");
    form.append(content);
    dialog.replaceChildren(close, element("h3", "exchange-title", title), form);
    dialog.dataset.seq = seq;
    if (!dialog.open) dialog.showModal();
  }

  function part(label, message, requestWithoutAnswer) {
    const box = element("section", "exchange-part");
    box.dataset.part = label.toLowerCase();
    box.append(element("h4", "", label));
    if (!message) {
      const why = requestWithoutAnswer
        ? "No answer is recorded for this message" + (requestWithoutAnswer.detail ? " (" + requestWithoutAnswer.detail + ")" : "") + "."
        : "The trace holds no request for this answer.";
      box.append(element("p", "exchange-none", why));
      return box;
    }
    let line = message.kind === "request" ? message.method + " " + message.path : message.status === null ? "no answer" : String(message.status);
    if (message.outcome) line += " ⇒ " + message.outcome;
    if (message.delivery) line += " (" + message.delivery.replace("_", " ") + ")";
    box.append(element("p", "exchange-line", line));
    if (message.detail) box.append(element("p", "exchange-detail", message.detail));
    if (message.headers && message.headers.length > 0) {
      const table = element("table", "exchange-headers");
      message.headers.forEach(([name, value]) => {
        const row = element("tr");
        row.append(element("th", "", name), element("td", "", value));
        table.append(row);
      });
      box.append(table);
    }
    if (message.body !== undefined) {
      let text = message.body;
      if (text === "") {
        box.append(element("p", "exchange-none", "(empty body)"));
      } else {
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
        } catch (error) {
          // Not JSON (a plain-text refusal): shown as it came.
        }
        box.append(element("pre", "exchange-payload", text));
        if (message.full_length) {
          box.append(element("p", "exchange-none", "(the first " + message.body.length + " of " + message.full_length + " bytes)"));
        }
      }
    } else if (message.kind === "request" || message.status !== null) {
      box.append(element("p", "exchange-none", "(the trace keeps no wire for this message)"));
    }
    return box;
  }

  function onScreen(player) {
    const rect = player.section.getBoundingClientRect();
    return rect.bottom > 0 && rect.top < window.innerHeight;
  }

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (dialog && dialog.open) return;
    const target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const moves = { ArrowRight: 1, n: 1, ArrowLeft: -1, p: -1, Home: "first", End: "last" };
    if (!(event.key in moves) || players.size === 0) return;
    let player = active && onScreen(active) ? active : null;
    if (!player) player = Array.from(players.values()).find(onScreen) || active || players.values().next().value;
    const move = moves[event.key];
    event.preventDefault();
    if (move === "first") player.go(0, true);
    else if (move === "last") player.go(player.steps.length - 1, true);
    else player.go(player.index + move, true);
  });

  function followHash() {
    const match = /^#(.+)-step-(\d+)$/.exec(window.location.hash);
    if (!match || !players.has(match[1])) return false;
    const player = players.get(match[1]);
    const index = player.steps.findIndex((s) => s.n === Number(match[2]));
    if (index < 0) return false;
    player.go(index, false);
    active = player;
    player.root.scrollIntoView({ block: "start" });
    return true;
  }

  function start() {
    document.querySelectorAll("script.player-data").forEach((island) => {
      let data;
      try {
        data = JSON.parse(island.textContent);
      } catch (error) {
        return;
      }
      const section = document.getElementById(data.id);
      if (!section) return;
      const player = makePlayer(section, data);
      if (!player) return;
      players.set(player.id, player);
      player.go(0, false);
    });
    active = players.values().next().value || null;
    followHash();
    window.addEventListener("hashchange", followHash);
    window.sharesimPlayers = players;
    document.documentElement.dataset.players = String(players.size);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
