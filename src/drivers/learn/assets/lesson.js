// The course's pages: marks finished lessons on the index, and on a lesson page asks
// its questions one at a time. The step-through player (player.js) stops at the open
// question's step and hides what the step did until the learner answers: a prediction
// is checked against the status the run really produced (the page carries it), a choice
// against the lesson's right answers; a wrong choice with a step of its own links to a
// page that runs it for real. An order question is answered on the server: each held
// message the learner picks reruns the lesson with that choice. The browser remembers
// answered questions and finished lessons (localStorage); nothing else leaves the page.
"use strict";

(function () {
  const DONE = "sharesim-learn:done";

  function read(key) {
    try {
      return JSON.parse(window.localStorage.getItem(key) || "null");
    } catch (error) {
      return null;
    }
  }

  function write(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch (error) {
      // Storage may be off; the page still works, it just forgets.
    }
  }

  function course() {
    const done = read(DONE) || [];
    document.querySelectorAll("li[data-lesson]").forEach((item) => {
      const finished = done.includes(item.dataset.lesson);
      item.classList.toggle("done", finished);
      item.querySelector(".done-mark").hidden = !finished;
    });
  }

  function lesson() {
    const slug = document.body.dataset.lesson;
    const key = "sharesim-learn:" + slug;
    const answered = new Set(read(key) || []);
    const questions = Array.from(document.querySelectorAll(".question"));
    const player = window.sharesimPlayers ? window.sharesimPlayers.get("lesson") : null;
    // The server knows whether the learner's order has been played to the end.
    questions
      .filter((q) => q.dataset.kind === "order")
      .forEach((q) => {
        const index = Number(q.dataset.question);
        if (q.dataset.answered === "true") answered.add(index);
        else answered.delete(index);
      });

    function open() {
      return questions.find((q) => !answered.has(Number(q.dataset.question))) || null;
    }

    function update(reveal) {
      const next = open();
      questions.forEach((q) => {
        const done = answered.has(Number(q.dataset.question));
        q.hidden = !(q === next || done);
        q.classList.toggle("answered", done);
        q.querySelector(".explain").hidden = !done;
      });
      if (player) {
        player.setGate(next && next.dataset.kind !== "order" ? Number(next.dataset.step) : null);
        if (reveal !== undefined) player.goToStep(reveal);
      }
      const finished = next === null;
      document.body.dataset.finished = String(finished);
      document.getElementById("complete").hidden = !finished;
      if (finished) {
        const done = read(DONE) || [];
        if (!done.includes(slug)) {
          done.push(slug);
          write(DONE, done);
        }
      }
    }

    questions.forEach((q) => {
      q.querySelectorAll("button.option").forEach((button) => {
        button.addEventListener("click", () => {
          const feedback = q.querySelector(".feedback");
          const right =
            q.dataset.kind === "predict"
              ? button.dataset.value === q.dataset.answer
              : button.dataset.correct === "true";
          button.classList.add(right ? "right" : "wrong");
          const why = button.dataset.explain ? " " + button.dataset.explain : "";
          if (!right) {
            feedback.textContent = "Not quite." + (why || " Try again.");
            feedback.dataset.verdict = "wrong";
            return;
          }
          feedback.textContent = (q.dataset.kind === "predict" ? "Right: " + q.dataset.answer + "." : "Right.") + why;
          feedback.dataset.verdict = "right";
          q.querySelectorAll("button.option").forEach((other) => (other.disabled = true));
          answered.add(Number(q.dataset.question));
          write(key, Array.from(answered));
          update(Number(q.dataset.step));
        });
      });
    });
    update();
  }

  function start() {
    if (document.body.dataset.page === "course") course();
    if (document.body.dataset.page === "lesson") lesson();
    document.documentElement.dataset.ready = "true";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
