// The live view's script: reads the accounts, the held messages, the status grids and
// the drawn diagram from the control API, follows the journal's event stream, and
// redraws after every new event, scrolling to the newest; or shows an older window of
// the journal when the learner goes back. Held messages are delivered in the order the
// learner picks, each by a `release` step naming it. The control token comes from the
// page's address (`/ui?token=…`), stays in memory, and goes out only as a bearer header
// to this same server. Data is put into the page as text (textContent), never as
// markup; the diagram and grids are SVG that sharesim drew and escaped itself.
"use strict";

(function () {
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const auth = { Authorization: "Bearer " + token };
  let lastSeq = 0;
  let refreshing = false;
  let again = false;
  // Which window of the journal the diagram shows: the newest (following), or a fixed
  // range the learner went back to.
  let following = true;
  let windowFrom = null;
  let windowTo = null;
  let kept = { first: 1, last: 0 };
  // The journal range of the messages the learner chose to deliver, one after another.
  let sequence = null;
  const SPAN = 200;

  const $ = (id) => document.getElementById(id);

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function say(text, failed) {
    const message = $("message");
    message.textContent = text;
    message.classList.toggle("fail", Boolean(failed));
  }

  function connection(state, text) {
    const node = $("connection");
    node.dataset.state = state;
    node.textContent = text;
  }

  async function getOk(path) {
    const response = await fetch(path, { headers: auth, cache: "no-store" });
    if (!response.ok) throw new Error(path + " answered " + response.status);
    return response;
  }

  // Runs control steps, the same ones a test sends to POST /steps, and says how it went;
  // returns the answer when every step passed.
  async function runSteps(label, steps) {
    say(label + "…");
    let passed = null;
    try {
      const response = await fetch("/steps", {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, auth),
        body: JSON.stringify(steps),
      });
      const body = await response.json();
      if (!response.ok) {
        say(label + ": " + (body.message || response.status), true);
      } else if (!body.passed) {
        const failed = body.steps[body.steps.length - 1];
        say(label + ": " + ((failed && failed.message) || "the step failed"), true);
      } else {
        say(label + ": done.");
        passed = body;
      }
    } catch (error) {
      say(label + ": " + error.message, true);
    }
    refresh();
    return passed;
  }

  function button(text, label, steps) {
    const node = element("button", "", text);
    node.type = "button";
    node.addEventListener("click", () => runSteps(label, steps));
    return node;
  }

  function agreementItem(agreement) {
    const item = element("li", "agreement");
    item.dataset.id = agreement.id;
    item.dataset.status = agreement.status;
    item.dataset.type = agreement.type;
    item.append(
      element("span", "", "#" + agreement.id + " " + agreement.type + " "),
      element("span", "state " + agreement.status, agreement.status),
      element("span", "", " · " + agreement.name)
    );
    return item;
  }

  function ticketItem(ticket) {
    const item = element("li", "ticket");
    item.dataset.id = ticket.id;
    let over = "";
    if (ticket.shared_over !== null) over = " · shared over #" + ticket.shared_over;
    if (ticket.received_over !== null) over = " · received over #" + ticket.received_over;
    item.append(
      element("span", "", "#" + ticket.id + " "),
      element("span", "state " + ticket.status, ticket.status),
      element("span", "", " · " + ticket.subject + over)
    );
    return item;
  }

  function list(title, items, render, none) {
    const fragment = document.createDocumentFragment();
    fragment.append(element("h4", "", title));
    if (items.length === 0) {
      fragment.append(element("p", "empty", none));
    } else {
      const ul = element("ul");
      items.forEach((item) => ul.append(render(item)));
      fragment.append(ul);
    }
    return fragment;
  }

  function controls(account, view) {
    const box = element("div", "controls");
    const name = account.subdomain;
    if (view.tls) {
      const select = element("select", "certificate");
      select.setAttribute("aria-label", "certificate of " + name);
      view.certificate_modes.forEach((mode) => {
        const option = element("option", "", mode);
        option.value = mode;
        option.selected = mode === account.certificate;
        select.append(option);
      });
      select.addEventListener("change", () =>
        runSteps("certificate of " + name + " → " + select.value, [
          { certificate: { account: name, mode: select.value } },
        ])
      );
      box.append(element("label", "", "certificate "), select);
    }
    if (account.running) {
      box.append(button("Down", "stop " + name, [{ stop: { account: name } }]));
    } else {
      box.append(button("Up", "start " + name, [{ start: { account: name } }]));
    }
    if (account.faults > 0) {
      box.append(button("Heal", "heal " + name, [{ heal: { account: name } }]));
    }
    // One hold and one release per link into this account: partner messages from
    // that account wait in flight until released (the same `hold`/`release` steps).
    view.accounts
      .filter((other) => other.subdomain !== name)
      .forEach((other) => {
        const from = other.subdomain;
        const hold = button("Hold " + from + "→", "hold " + from + " → " + name, [
          { hold: { from: from, to: name } },
        ]);
        hold.classList.add("hold");
        hold.dataset.from = from;
        const release = button(
          "Release " + from + "→",
          "release " + from + " → " + name,
          [{ release: { from: from, to: name } }]
        );
        release.classList.add("release");
        release.dataset.from = from;
        box.append(hold, release);
      });
    return box;
  }

  function renderAccounts(view) {
    const cards = view.accounts.map((account) => {
      const card = element("article", "account");
      card.dataset.account = account.subdomain;
      const head = element("header");
      head.append(
        element("h3", "", account.subdomain),
        element("span", "name", account.display_name),
        element("span", "badge " + (account.running ? "up" : "down"), account.running ? "up" : "down")
      );
      if (view.tls) {
        const cert = element("span", "badge cert " + account.certificate, account.certificate);
        cert.dataset.certificate = account.certificate;
        head.append(cert);
      }
      if (account.faults > 0) {
        head.append(element("span", "badge faulted", account.faults + " fault(s)"));
      }
      card.append(
        head,
        list("Agreements", account.agreements, agreementItem, "no agreements"),
        list("Tickets", account.tickets, ticketItem, "no tickets"),
        controls(account, view)
      );
      return card;
    });
    $("accounts").replaceChildren(...cards);
  }

  // The held messages, each with a button that delivers it next.
  function renderHeld(view) {
    $("held-section").hidden = view.held.length === 0 && sequence === null;
    const items = view.held.map((message) => {
      const item = element("li", "held-message");
      item.dataset.from = message.from;
      item.dataset.to = message.to;
      item.dataset.position = message.position;
      item.dataset.seq = message.seq;
      const deliver = element("button", "deliver", "Deliver next");
      deliver.type = "button";
      deliver.addEventListener("click", () => deliverNext(message, view.held));
      item.append(
        element("span", "link", message.from + " → " + message.to + " · message " + message.position + ": "),
        element("span", "what", message.description),
        deliver
      );
      return item;
    });
    $("held").replaceChildren(...items);
    if (view.held.length === 0 && sequence !== null && sequence.open) {
      sequence.open = false;
    }
  }

  async function deliverNext(message, held) {
    const step = { release: { from: message.from, to: message.to, message: message.position } };
    const label = "deliver " + message.from + " → " + message.to + " message " + message.position;
    if (sequence === null || !sequence.open) {
      sequence = { open: true, first: Math.min(...held.map((m) => m.seq)), last: null, count: 0 };
    }
    const answer = await runSteps(label, [step]);
    if (!answer) return;
    sequence.last = answer.steps[answer.steps.length - 1].last_event;
    sequence.count += 1;
    showSequence();
  }

  // A link that reopens the chosen sequence: this page, showing those journal events.
  function showSequence() {
    const box = $("sequence");
    const range = sequence.first + "-" + sequence.last;
    const link = element("a", "", "events " + sequence.first + " to " + sequence.last);
    link.id = "sequence-link";
    link.href = window.location.pathname + window.location.search + "#events=" + range;
    box.replaceChildren(
      element("span", "", "You delivered " + sequence.count + " held message(s) in your order. Reopen this sequence: "),
      link
    );
    box.hidden = false;
  }

  async function renderGrids() {
    const response = await fetch("/ui/grids", { headers: auth, cache: "no-store" });
    if (!response.ok) return;
    const body = await response.json();
    $("grids-section").hidden = body.grids.length === 0;
    const figures = body.grids.map((grid) => {
      const figure = element("figure", "grid");
      figure.dataset.label = grid.label;
      figure.innerHTML = grid.svg;
      return figure;
    });
    $("grids").replaceChildren(...figures);
    const more = $("grids-more");
    more.hidden = body.more === 0;
    more.textContent = body.more > 0 ? body.more + " more agreement(s) changed earlier." : "";
  }

  function diagramPath(shown) {
    if (shown.following) return "/ui/diagram.svg";
    return "/ui/diagram.svg?from=" + shown.from + "&to=" + shown.to;
  }

  // Says which events the diagram shows (`shown`: the window it was drawn for).
  function showWindow(shown) {
    const first = shown.following ? Math.max(kept.first, kept.last - SPAN + 1) : shown.from;
    const last = shown.following ? kept.last : Math.min(shown.to, kept.last);
    $("window").textContent =
      (kept.last === 0 ? "no events yet" : "events " + first + " to " + last + " of " + kept.first + " to " + kept.last) +
      (shown.following ? " · following" : "");
    $("follow").setAttribute("aria-pressed", shown.following ? "true" : "false");
    $("older").disabled = first <= kept.first;
    $("newer").disabled = shown.following;
    document.body.dataset.window = first + "-" + last;
  }

  function goTo(from, to) {
    following = false;
    windowFrom = Math.max(kept.first, from);
    windowTo = Math.max(windowFrom, to);
    refresh();
  }

  function followNewest() {
    following = true;
    refresh();
  }

  // Reads the view and the diagram again; calls that arrive meanwhile make one more pass.
  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      do {
        again = false;
        const shown = { following: following, from: windowFrom, to: windowTo };
        const [view, svg] = await Promise.all([
          getOk("/ui/view").then((r) => r.json()),
          getOk(diagramPath(shown)).then((r) => r.text()),
        ]);
        // After the view: reading it is what records each pair's newest point.
        await renderGrids();
        kept = { first: view.first_seq, last: view.last_seq };
        renderAccounts(view);
        renderHeld(view);
        const box = $("diagram");
        box.innerHTML = svg;
        if (shown.following) box.scrollTop = box.scrollHeight;
        showWindow(shown);
        lastSeq = Math.max(lastSeq, view.last_seq);
        $("last-seq").textContent = "event " + view.last_seq;
        document.body.dataset.seq = view.last_seq;
      } while (again);
    } catch (error) {
      say("could not read the world: " + error.message, true);
    } finally {
      refreshing = false;
    }
  }

  // Follows GET /journal/stream (server-sent events) with fetch, so the bearer header
  // goes with it; reconnects after a second, resuming after the last event seen.
  async function follow() {
    for (;;) {
      try {
        const response = await getOk("/journal/stream?since=" + lastSeq);
        connection("live", "live");
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
          let end;
          let seen = false;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = block.split("\n").find((line) => line.startsWith("id:"));
            if (id) {
              lastSeq = Math.max(lastSeq, Number(id.slice(3).trim()) || 0);
              seen = true;
            }
          }
          if (seen) refresh();
        }
        connection("lost", "the stream ended; reconnecting…");
      } catch (error) {
        connection("lost", "disconnected (" + error.message + "); reconnecting…");
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  // `#events=A-B` opens the page on those journal events (a chosen sequence's link).
  function readHash() {
    const match = /^#events=(\d+)-(\d+)$/.exec(window.location.hash);
    if (!match) return false;
    following = false;
    windowFrom = Number(match[1]);
    windowTo = Math.max(windowFrom, Number(match[2]));
    return true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!token) {
      say("This page needs the control token: open {control_url}/ui?token=….", true);
      return;
    }
    readHash();
    window.addEventListener("hashchange", () => {
      if (readHash()) refresh();
    });
    $("older").addEventListener("click", () => {
      const first = following ? Math.max(kept.first, kept.last - SPAN + 1) : windowFrom;
      goTo(Math.max(kept.first, first - SPAN), first - 1);
    });
    $("newer").addEventListener("click", () => {
      const next = windowTo + 1;
      if (next + SPAN > kept.last) followNewest();
      else goTo(next, next + SPAN - 1);
    });
    $("follow").addEventListener("click", followNewest);
    refresh().then(follow);
  });
})();
