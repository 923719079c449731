// The inbox's and the board's behaviour: the task pane, selection (shift-click ranges),
// bulk actions with a confirmation and their results, and the keyboard shortcuts.
// Everything here is also reachable without it: links open the task page, checkboxes and
// buttons submit the bulk form, and approving without this script asks on a page first.
(function () {
  "use strict";

  const list = document.querySelector("[data-task-list]");
  const bulkForm = document.querySelector("[data-bulk-form]");
  const pane = document.getElementById("task-pane");
  const wide = window.matchMedia("(min-width: 90rem)");
  let current = -1;
  let lastTicked = null;

  function rows() {
    return list ? Array.from(list.querySelectorAll("tr[data-task-id]")) : [];
  }

  function boxes() {
    return rows().map((row) => row.querySelector("input[name=task]"));
  }

  function selectedIds() {
    return boxes().filter((box) => box && box.checked).map((box) => box.value);
  }

  function updateCount() {
    const count = selectedIds().length;
    document.querySelectorAll("[data-bulk-count]").forEach((el) => {
      el.textContent = count === 0 ? "No tasks selected" : count === 1 ? "1 task selected" : count + " tasks selected";
    });
  }

  function setCurrent(index) {
    const all = rows();
    if (all.length === 0) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, i) => row.classList.toggle("is-current", i === current));
    const link = all[current].querySelector("a.task-link");
    if (link) link.focus();
  }

  function openTask(row) {
    const url = row.dataset.taskUrl;
    if (pane && wide.matches && window.htmx) {
      window.htmx.ajax("GET", url, { target: "#task-pane", swap: "innerHTML" }).then(() => pane.focus());
    } else {
      window.location.assign(url);
    }
  }

  // --- The task pane: links open beside the list on wide screens -------------------------------
  if (list) {
    list.addEventListener("click", (event) => {
      const link = event.target.closest("a.task-link");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || !pane || !wide.matches) return;
      event.preventDefault();
      const row = link.closest("tr[data-task-id]");
      current = rows().indexOf(row);
      setCurrent(current);
      openTask(row);
    });

    // Shift-click ticks every box between the last ticked one and this one.
    list.addEventListener("click", (event) => {
      const box = event.target.closest("input[name=task]");
      const all = boxes();
      if (box) {
        if (event.shiftKey && lastTicked !== null) {
          const from = all.indexOf(lastTicked);
          const to = all.indexOf(box);
          const [start, end] = from < to ? [from, to] : [to, from];
          for (let i = start; i <= end; i += 1) all[i].checked = box.checked;
        }
        lastTicked = box;
        updateCount();
      }
      const every = event.target.closest("[data-select-all]");
      if (every) {
        all.forEach((b) => { b.checked = every.checked; });
        updateCount();
      }
    });
  }

  // --- Bulk actions: results in place, rows refreshed from their fragment ------------------------
  const confirmDialog = document.getElementById("approve-confirm");

  function askToApprove(count) {
    return new Promise((resolve) => {
      if (!confirmDialog) { resolve(false); return; }
      confirmDialog.querySelector("[data-confirm-count]").textContent = count === 1 ? "1 task" : count + " tasks";
      const yes = confirmDialog.querySelector("[data-confirm-yes]");
      const no = confirmDialog.querySelector("[data-confirm-no]");
      const done = (answer) => {
        yes.removeEventListener("click", onYes);
        no.removeEventListener("click", onNo);
        confirmDialog.removeEventListener("cancel", onNo);
        confirmDialog.close();
        resolve(answer);
      };
      const onYes = () => done(true);
      const onNo = () => done(false);
      yes.addEventListener("click", onYes);
      no.addEventListener("click", onNo);
      confirmDialog.addEventListener("cancel", onNo);
      confirmDialog.showModal();
      yes.focus();
    });
  }

  async function refreshRows(ids) {
    await Promise.all(ids.map(async (id) => {
      const row = list && list.querySelector('tr[data-task-id="' + id + '"]');
      if (!row) return;
      const response = await fetch(row.dataset.rowUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
      if (response.status === 404) { row.remove(); return; }
      if (!response.ok) return;
      const holder = document.createElement("tbody");
      holder.innerHTML = (await response.text()).trim();
      const fresh = holder.querySelector("tr[data-task-id]");
      if (fresh) row.replaceWith(fresh);
    }));
    updateCount();
  }

  async function submitBulk(action, ids) {
    const results = document.getElementById("bulk-results");
    const data = new FormData(bulkForm);
    data.delete("task");
    ids.forEach((id) => data.append("task", id));
    data.set("action", action);
    if (action === "approve") {
      if (!(await askToApprove(ids.length))) return;
      data.set("confirm", "on");
    }
    results.innerHTML = "";
    // Focus goes to the results only if the person has not moved it while the work ran
    // (pressing "/" for the search box meanwhile must not be undone by the answer arriving).
    const focusBefore = document.activeElement;
    const progress = document.createElement("p");
    progress.className = "bulk-progress";
    progress.textContent = "Working on " + ids.length + (ids.length === 1 ? " task…" : " tasks…");
    results.appendChild(progress);
    // getAttribute: the form has controls named "action", which shadow form.action.
    const response = await fetch(bulkForm.getAttribute("action"), {
      method: "POST",
      body: data,
      headers: { "HX-Request": "true" },
      credentials: "same-origin",
    });
    results.innerHTML = await response.text();
    await refreshRows(ids);
    const title = results.querySelector(".results-title, .error-summary");
    const moved = document.activeElement !== focusBefore && document.activeElement !== document.body;
    if (title && !moved) { title.setAttribute("tabindex", "-1"); title.focus(); }
  }

  if (bulkForm) {
    bulkForm.addEventListener("submit", (event) => {
      const ids = selectedIds();
      const button = event.submitter;
      const action = button && button.name === "action" ? button.value : new FormData(bulkForm).get("action");
      if (ids.length === 0) {
        event.preventDefault();
        const results = document.getElementById("bulk-results");
        results.innerHTML = '<div class="error-summary" role="alert"><p>Select at least one task.</p></div>';
        return;
      }
      event.preventDefault();
      submitBulk(action, ids);
    });
  }

  // --- Dialogs opened by buttons ---------------------------------------------------------------
  document.querySelectorAll("[data-open-dialog]").forEach((button) => {
    button.addEventListener("click", () => document.getElementById(button.dataset.openDialog).showModal());
  });

  // --- Keyboard ----------------------------------------------------------------------------------
  // Keys are text only where text is typed: a ticked row's checkbox or a button keeps the shortcuts.
  const NOT_TEXT = ["checkbox", "radio", "button", "submit", "reset"];
  function typing(target) {
    if (target.matches("input") && NOT_TEXT.includes(target.type)) return false;
    return target.closest("input, textarea, select, [contenteditable=true], dialog[open]") !== null;
  }

  function currentIds() {
    const all = rows();
    return current >= 0 && all[current] ? [all[current].dataset.taskId] : [];
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const all = rows();
    switch (event.key) {
      case "j": setCurrent(current + 1); break;
      case "k": setCurrent(current < 0 ? 0 : current - 1); break;
      case "Enter":
        if (current < 0 || !all[current] || event.target.closest("button, a:not(.task-link)")) return;
        openTask(all[current]);
        break;
      case "x": {
        const box = all[current] && all[current].querySelector("input[name=task]");
        if (box) { box.checked = !box.checked; updateCount(); }
        break;
      }
      case "c": if (bulkForm && currentIds().length) submitBulk("claim", currentIds()); break;
      case "r": if (bulkForm && currentIds().length) submitBulk("release", currentIds()); break;
      case "a": if (bulkForm && currentIds().length) submitBulk("approve", currentIds()); break;
      case "/": {
        const search = document.getElementById("id_q");
        if (search) search.focus();
        break;
      }
      case "?": {
        const help = document.getElementById("keys-help");
        if (help) help.showModal();
        break;
      }
      default: return;
    }
    event.preventDefault();
  });

  updateCount();
})();
