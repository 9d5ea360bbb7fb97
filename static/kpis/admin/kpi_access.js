/* The access step of a KPI (PRODUCT K8): the chosen units and people matter only when the
 * admin gives the KPI to chosen ones rather than to everyone at its level. */
"use strict";
(function () {
    const form = document.getElementById("kpi-access-form");
    const chosen = document.getElementById("kpi-access-chosen");
    if (!form || !chosen) {
        return;
    }
    const modes = Array.from(form.querySelectorAll("input[name=mode]"));
    function refresh() {
        const mode = modes.find((input) => input.checked);
        chosen.hidden = !mode || mode.value !== "chosen";
    }
    modes.forEach((input) => input.addEventListener("change", refresh));
    refresh();
})();
