// An integration source's admin form: the chosen kind's settings open, the other kinds' folded.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const kind = document.getElementById("id_kind");
  if (!kind) {
    return;
  }
  const show = () => {
    for (const fieldset of document.querySelectorAll("fieldset[class*='source-kind-']")) {
      const details = fieldset.querySelector("details");
      if (details) {
        details.open = fieldset.classList.contains(`source-kind-${kind.value}`);
      }
    }
  };
  kind.addEventListener("change", show);
  show();
});
