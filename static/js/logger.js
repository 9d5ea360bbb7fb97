/* The activity logger (O5, issue 18): each row offers the KPIs that reach its person, "Add a row"
   and "Remove" change the rows in place, "Find a person" narrows every row's list of people, and
   an undo asks first. The page works without it: the server refuses what does not fit. */
(function () {
  "use strict";

  function setup(form) {
    const offered = JSON.parse(document.getElementById("logger-offered").textContent);
    const template = document.getElementById("logger-row-template");
    const body = form.querySelector("tbody");
    const filter = document.getElementById("logger-person-filter");
    const addButton = document.getElementById("logger-add-row");
    // The full lists, from the blank row, to rebuild a row's lists from.
    const blank = template.content;
    const allKpis = Array.from(blank.querySelector("select[data-kpi]").options).slice(1);
    const allGroups = Array.from(blank.querySelector("select[data-person]").querySelectorAll("optgroup"));
    let next = Number(form.dataset.nextIndex);

    // Keep the chosen KPI when it fits, and on first drawing keep it anyway: a row the server
    // refused comes back as typed, with its error beside it.
    function narrowKpis(row, keepChosen) {
      const person = row.querySelector("select[data-person]").value;
      const select = row.querySelector("select[data-kpi]");
      const chosen = select.value;
      const allowed = person && offered[person] ? new Set(offered[person].map(String)) : null;
      const options = [select.options[0]];
      allKpis.forEach(function (option) {
        if (!allowed || allowed.has(option.value) || (keepChosen && option.value === chosen)) {
          options.push(option.cloneNode(true));
        }
      });
      select.replaceChildren.apply(select, options);
      select.value = options.some(function (option) { return option.value === chosen; }) ? chosen : "";
    }

    function narrowPeople(row) {
      const select = row.querySelector("select[data-person]");
      const chosen = select.value;
      const words = filter ? filter.value.trim().toLocaleLowerCase().split(/\s+/).filter(Boolean) : [];
      const children = [select.options[0]];
      allGroups.forEach(function (group) {
        const label = group.label.toLocaleLowerCase();
        const kept = Array.from(group.children).filter(function (option) {
          const text = (option.textContent + " " + label).toLocaleLowerCase();
          return option.value === chosen || words.every(function (word) { return text.includes(word); });
        });
        if (kept.length) {
          const copy = group.cloneNode(false);
          kept.forEach(function (option) { copy.appendChild(option.cloneNode(true)); });
          children.push(copy);
        }
      });
      select.replaceChildren.apply(select, children);
      select.value = chosen;
    }

    function rows() {
      return Array.from(body.querySelectorAll("tr[data-row]"));
    }

    function syncRemoveButtons() {
      const all = rows();
      all.forEach(function (row) {
        row.querySelector("[data-remove-row]").hidden = all.length < 2;
      });
    }

    function wire(row, first) {
      const person = row.querySelector("select[data-person]");
      if (filter) narrowPeople(row);
      narrowKpis(row, first);
      person.addEventListener("change", function () { narrowKpis(row, false); });
      row.querySelector("[data-remove-row]").addEventListener("click", function () {
        const errors = body.querySelector('tr[data-errors-for="' + row.dataset.row + '"]');
        if (errors) errors.remove();
        const following = row.nextElementSibling;
        row.remove();
        syncRemoveButtons();
        const focus = (following && following.querySelector("select")) || addButton;
        if (focus) focus.focus();
      });
    }

    rows().forEach(function (row) { wire(row, true); });
    syncRemoveButtons();
    addButton.hidden = false;
    addButton.addEventListener("click", function () {
      const holder = document.createElement("tbody");
      holder.innerHTML = template.innerHTML.split("__index__").join(String(next));
      next += 1;
      const row = holder.querySelector("tr[data-row]");
      body.appendChild(row);
      wire(row, false);
      syncRemoveButtons();
      row.querySelector("select[data-person]").focus();
    });
    if (filter) {
      filter.addEventListener("input", function () { rows().forEach(narrowPeople); });
      // Enter picks nothing and sends nothing: it only narrows.
      filter.addEventListener("keydown", function (event) {
        if (event.key === "Enter") event.preventDefault();
      });
    }
  }

  function confirmations(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  function start() {
    const form = document.getElementById("logger-form");
    if (form) setup(form);
    confirmations(document);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
