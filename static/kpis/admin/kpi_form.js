/* The KPI form of the admin (PRODUCT K4, K5, K7): language tabs, the completeness marks and the
 * status switch, the rating ratio, the level's unit, the terms' preview and the link dialog.
 * The server computes the same state on load; this keeps it current while the admin types.
 * Texts come translated from the page (#kpi-form-config, data-* attributes). */
"use strict";
(function () {
    const configElement = document.getElementById("kpi-form-config");
    const form = document.getElementById("kpi_form");
    if (!configElement || !form) {
        return;
    }
    const config = JSON.parse(configElement.textContent);
    const languages = Object.keys(config.languages || {});
    const csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");
    const csrfToken = csrfInput ? csrfInput.value : "";

    const byId = (id) => document.getElementById(id);
    const filled = (element) => Boolean(element && element.value.trim());
    const format = (template, values) =>
        template.replace(/%\((\w+)\)s/g, (match, key) => (key in values ? values[key] : match));

    // --- Language tabs --------------------------------------------------------------------------

    function setupTabs() {
        const tabs = Array.from(document.querySelectorAll(".kpi-tab"));
        function select(tab, focus) {
            tabs.forEach((each) => {
                const selected = each === tab;
                each.setAttribute("aria-selected", selected ? "true" : "false");
                each.tabIndex = selected ? 0 : -1;
                byId(each.getAttribute("aria-controls")).hidden = !selected;
            });
            if (focus) {
                tab.focus();
            }
        }
        tabs.forEach((tab, index) => {
            tab.addEventListener("click", () => select(tab, false));
            tab.addEventListener("keydown", (event) => {
                const moves = {
                    ArrowRight: tabs[(index + 1) % tabs.length],
                    ArrowLeft: tabs[(index - 1 + tabs.length) % tabs.length],
                    Home: tabs[0],
                    End: tabs[tabs.length - 1],
                };
                if (moves[event.key]) {
                    event.preventDefault();
                    select(moves[event.key], true);
                }
            });
        });
    }

    // --- Completeness and the status switch (K5) -----------------------------------------------
    // The rule of services.kpi_missing_translations: a name in every enabled language; a
    // description in every language once it is given in one; the integration field name.

    function missing() {
        const items = [];
        const incomplete = new Set();
        const anyDescription = languages.some((code) => filled(byId(`id_description_${code}`)));
        languages.forEach((code) => {
            const language = config.languages[code];
            if (!filled(byId(`id_name_${code}`))) {
                items.push(format(config.missingName, {language}));
                incomplete.add(code);
            }
            if (anyDescription && !filled(byId(`id_description_${code}`))) {
                items.push(format(config.missingDescription, {language}));
                incomplete.add(code);
            }
        });
        if (!filled(byId("id_integration_name"))) {
            items.push(config.missingIntegrationName);
        }
        return {items, incomplete};
    }

    function refreshStatusLabel() {
        const status = byId("id_status");
        const label = document.querySelector(".kpi-status-state");
        if (status && label) {
            label.textContent = status.checked ? label.dataset.on : label.dataset.off;
        }
    }

    function refreshCompleteness() {
        const {items, incomplete} = missing();
        document.querySelectorAll(".kpi-tab").forEach((tab) => {
            const isIncomplete = incomplete.has(tab.dataset.language);
            tab.classList.toggle("is-incomplete", isIncomplete);
            const dot = tab.querySelector(".kpi-tab-dot");
            if (dot) {
                dot.hidden = !isIncomplete;
            }
        });
        const status = byId("id_status");
        const reason = byId("id_status_reason");
        if (!status || !reason) {
            return;
        }
        if (items.length) {
            if (!status.disabled) {
                // Remember the choice, so that completing the form gives it back.
                status.dataset.wasChecked = status.checked ? "yes" : "";
                status.checked = false;
                status.disabled = true;
            }
            reason.textContent = format(config.activationReason, {items: items.join(", ")});
            reason.hidden = false;
        } else {
            if (status.disabled) {
                status.disabled = false;
                status.checked = Boolean(status.dataset.wasChecked);
            }
            reason.textContent = "";
            reason.hidden = true;
        }
        refreshStatusLabel();
    }

    // --- Rating ratio (K4) and the level's department or team (K6) ------------------------------

    function refreshRating() {
        const inRating = byId("id_in_rating");
        const ratio = byId("kpi-ratio");
        if (inRating && ratio) {
            ratio.hidden = !inRating.checked;
        }
    }

    function refreshRatioUnit() {
        const unit = byId("id_unit");
        const label = document.querySelector("[data-kpi-ratio-unit]");
        if (unit && label) {
            const option = unit.selectedOptions[0];
            label.textContent = option && option.value ? `(${option.text})` : "";
        }
    }

    function refreshLevel() {
        const level = byId("id_level");
        if (!level) {
            return;
        }
        const department = document.querySelector(".form-row.field-department");
        const team = document.querySelector(".form-row.field-team");
        if (department) {
            department.hidden = level.value !== "department";
        }
        if (team) {
            team.hidden = level.value !== "team";
        }
    }

    // --- Preview of the terms (K7), rendered by the server's own renderer -----------------------

    function setupPreviews() {
        document.querySelectorAll("[data-kpi-preview-for]").forEach((preview) => {
            const textarea = byId(preview.dataset.kpiPreviewFor);
            const errors = document.querySelector(`[data-kpi-preview-errors-for="${textarea.id}"]`);
            let timer = null;
            let sequence = 0;
            async function render() {
                const mine = ++sequence;
                const body = new FormData();
                body.append("text", textarea.value);
                let data;
                try {
                    const response = await fetch(config.preview, {
                        method: "POST",
                        body,
                        headers: {"X-CSRFToken": csrfToken, Accept: "application/json"},
                        credentials: "same-origin",
                    });
                    if (!response.ok) {
                        return;
                    }
                    data = await response.json();
                } catch (error) {
                    return; // the preview helps; the form works without it
                }
                if (mine !== sequence) {
                    return;
                }
                preview.innerHTML = data.html; // escaped text and checked links, from kpis.terms.render
                preview.classList.toggle("is-empty", !data.html);
                const items = data.errors.map((message) => {
                    const item = document.createElement("li");
                    item.textContent = message;
                    return item;
                });
                errors.replaceChildren(...items);
                errors.hidden = items.length === 0;
            }
            textarea.addEventListener("input", () => {
                clearTimeout(timer);
                timer = setTimeout(render, 300);
            });
        });
    }

    // --- The link dialog (K7) --------------------------------------------------------------------

    function setupLinkDialog() {
        const dialog = byId("kpi-link-dialog");
        if (!dialog || typeof dialog.showModal !== "function") {
            document.querySelectorAll("[data-kpi-link-for]").forEach((button) => {
                button.hidden = true;
            });
            return;
        }
        const dialogForm = byId("kpi-link-form");
        const type = byId("kpi-link-type");
        const url = byId("kpi-link-url");
        const section = byId("kpi-link-section");
        const search = byId("kpi-link-search");
        const results = byId("kpi-link-results");
        const chosen = byId("kpi-link-chosen");
        const title = byId("kpi-link-title");
        const error = byId("kpi-link-error");
        const warning = byId("kpi-link-warning");
        let target = null;
        let selection = [0, 0];
        let picked = null;
        let searchTimer = null;
        let searchSequence = 0;

        function showKind() {
            dialog.querySelectorAll("[data-kpi-link-kind]").forEach((part) => {
                part.hidden = part.dataset.kpiLinkKind !== type.value;
            });
        }

        function closeResults() {
            results.hidden = true;
            search.setAttribute("aria-expanded", "false");
        }

        function reset() {
            type.value = "external";
            url.value = "";
            title.value = "";
            search.value = "";
            results.replaceChildren();
            closeResults();
            section.value = section.options[0].value;
            forget();
            error.hidden = true;
            showKind();
        }

        function forget() {
            chosen.hidden = true;
            warning.hidden = true;
            picked = null;
        }

        // The audience warning before saving: whom the KPI reaches as the form now stands.
        async function checkAudience(item) {
            const params = new URLSearchParams({section: section.value, id: item.id});
            if (config.exclude) {
                params.set("kpi", config.exclude);
            }
            ["level", "department", "team"].forEach((name) => {
                const field = byId(`id_${name}`);
                if (field && field.value) {
                    params.set(name, field.value);
                }
            });
            let data;
            try {
                const response = await fetch(`${config.linkAudience}?${params}`, {
                    credentials: "same-origin",
                    headers: {Accept: "application/json"},
                });
                data = await response.json();
            } catch (problem) {
                return; // the warning helps; saving warns again
            }
            if (picked !== item) {
                return;
            }
            const message = data.error || data.warning;
            warning.textContent = message || "";
            warning.hidden = !message;
        }

        function fail(message, field) {
            error.textContent = message;
            error.hidden = false;
            field.focus();
        }

        function pick(item) {
            // A search still waiting or under way would open the list again over the choice.
            clearTimeout(searchTimer);
            searchSequence += 1;
            picked = item;
            chosen.textContent = format(dialog.dataset.msgChosen, {name: `#${item.id} ${item.name}`});
            chosen.hidden = false;
            warning.hidden = true;
            checkAudience(item);
            closeResults();
            if (!title.value.trim()) {
                title.value = item.name;
            }
            error.hidden = true;
            title.focus();
        }

        async function runSearch() {
            const mine = ++searchSequence;
            const params = new URLSearchParams({q: search.value.trim(), section: section.value});
            if (config.exclude && section.value === "kpis") {
                params.set("exclude", config.exclude);
            }
            let data;
            try {
                const response = await fetch(`${config.search}?${params}`, {
                    credentials: "same-origin",
                    headers: {Accept: "application/json"},
                });
                if (!response.ok) {
                    return;
                }
                data = await response.json();
            } catch (problem) {
                return;
            }
            if (mine !== searchSequence) {
                return;
            }
            const items = data.results.map((item) => {
                const option = document.createElement("li");
                option.setAttribute("role", "option");
                const button = document.createElement("button");
                button.type = "button";
                button.className = "kpi-link-result";
                button.dataset.targetId = item.id;
                const name = document.createElement("span");
                name.className = "kpi-link-result-name";
                name.textContent = `#${item.id} · ${item.name}`;
                const meta = document.createElement("span");
                meta.className = "kpi-link-result-meta";
                meta.textContent = item.meta;
                button.append(name, meta);
                button.addEventListener("click", () => pick(item));
                option.append(button);
                return option;
            });
            if (!items.length) {
                const none = document.createElement("li");
                none.className = "kpi-link-none";
                none.textContent = dialog.dataset.msgNone;
                items.push(none);
            }
            results.replaceChildren(...items);
            results.hidden = false;
            search.setAttribute("aria-expanded", "true");
        }

        document.querySelectorAll("[data-kpi-link-for]").forEach((button) => {
            button.addEventListener("click", () => {
                target = byId(button.dataset.kpiLinkFor);
                selection = [target.selectionStart, target.selectionEnd];
                reset();
                const selected = target.value.slice(selection[0], selection[1]).trim();
                if (selected) {
                    title.value = selected; // the selected words become the link's text
                }
                dialog.showModal();
                url.focus();
            });
        });
        type.addEventListener("change", () => {
            showKind();
            error.hidden = true;
            (type.value === "internal" ? search : url).focus();
        });
        dialog.querySelector("[data-kpi-link-cancel]").addEventListener("click", () => dialog.close());
        section.addEventListener("change", () => {
            forget();
            search.value = "";
            results.replaceChildren();
            runSearch();
        });
        search.addEventListener("input", () => {
            clearTimeout(searchTimer);
            searchTimer = setTimeout(runSearch, 250);
        });
        search.addEventListener("focus", () => {
            if (!results.childElementCount) {
                runSearch();
            }
        });
        search.addEventListener("keydown", (event) => {
            if (event.key === "Enter") {
                event.preventDefault();
                const first = results.querySelector(".kpi-link-result");
                if (first && !results.hidden) {
                    first.click();
                } else {
                    runSearch();
                }
            } else if (event.key === "ArrowDown") {
                const first = results.querySelector(".kpi-link-result");
                if (first) {
                    event.preventDefault();
                    first.focus();
                }
            }
        });
        results.addEventListener("keydown", (event) => {
            const buttons = Array.from(results.querySelectorAll(".kpi-link-result"));
            const index = buttons.indexOf(document.activeElement);
            if (index < 0) {
                return;
            }
            if (event.key === "ArrowDown" || event.key === "ArrowUp") {
                event.preventDefault();
                const next = buttons[index + (event.key === "ArrowDown" ? 1 : -1)];
                (next || search).focus();
            }
        });
        dialogForm.addEventListener("submit", (event) => {
            event.preventDefault();
            // The markup's title may hold no brackets and its address no parentheses (kpis.terms).
            const text = title.value.trim().replace(/\s+/g, " ").replace(/\[/g, "(").replace(/\]/g, ")");
            let address;
            if (type.value === "external") {
                address = url.value.trim();
                if (!/^https?:\/\/[^\s/?#]+\S*$/i.test(address)) {
                    fail(dialog.dataset.msgUrl, url);
                    return;
                }
                address = address.replace(/\(/g, "%28").replace(/\)/g, "%29");
            } else {
                if (!picked) {
                    fail(dialog.dataset.msgTarget, search);
                    return;
                }
                address = `internal:${section.value}/${picked.id}`;
            }
            if (!text) {
                fail(dialog.dataset.msgTitle, title);
                return;
            }
            const markup = `[${text}](${address})`;
            dialog.close();
            target.focus();
            target.setRangeText(markup, selection[0], selection[1], "end");
            target.dispatchEvent(new Event("input", {bubbles: true}));
        });
    }

    // --- Wiring ------------------------------------------------------------------------------------

    setupTabs();
    setupPreviews();
    setupLinkDialog();
    const watched = ["id_integration_name"];
    languages.forEach((code) => watched.push(`id_name_${code}`, `id_description_${code}`));
    watched.forEach((id) => {
        const element = byId(id);
        if (element) {
            element.addEventListener("input", refreshCompleteness);
        }
    });
    const status = byId("id_status");
    if (status) {
        status.addEventListener("change", () => {
            status.dataset.wasChecked = status.checked ? "yes" : "";
            refreshStatusLabel();
        });
    }
    const inRating = byId("id_in_rating");
    if (inRating) {
        inRating.addEventListener("change", refreshRating);
    }
    const level = byId("id_level");
    if (level) {
        level.addEventListener("change", refreshLevel);
    }
    const unit = byId("id_unit");
    if (unit) {
        // The admin's popups set the unit with jQuery's trigger, which listeners of jQuery hear.
        if (window.django && window.django.jQuery) {
            window.django.jQuery(unit).on("change", refreshRatioUnit);
        } else {
            unit.addEventListener("change", refreshRatioUnit);
        }
    }
    refreshCompleteness();
    refreshRating();
    refreshRatioUnit();
    refreshLevel();
})();
