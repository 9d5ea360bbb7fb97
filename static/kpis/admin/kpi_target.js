/* The target form (PRODUCT K9): only the holder its scope asks for, and the values by hand only
 * for a breakdown by hand. The service ignores the others anyway. */
"use strict";
(function () {
    function rowOf(name) {
        return document.querySelector(`.form-row.field-${name}`);
    }
    function refresh() {
        const scope = document.getElementById("id_scope");
        if (scope) {
            const holders = {department: "department", team: "team", user: "user"};
            Object.entries(holders).forEach(([value, name]) => {
                const row = rowOf(name);
                if (row) {
                    row.hidden = scope.value !== value;
                }
            });
        }
        const method = document.getElementById("id_method");
        const values = rowOf("values");
        if (method && values) {
            values.hidden = method.value !== "manual";
        }
    }
    document.addEventListener("DOMContentLoaded", () => {
        ["id_scope", "id_method"].forEach((id) => {
            const element = document.getElementById(id);
            if (element) {
                element.addEventListener("change", refresh);
            }
        });
        refresh();
    });
})();
