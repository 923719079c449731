// The start and decision forms: a second click on a submit button while the first is on
// its way does nothing (the server would refuse the stale or duplicate request anyway, but
// a second purchase order is a real duplicate), and the error summary takes the focus.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("schema-form")) return;
    if (form.dataset.submitting === "yes") {
      event.preventDefault();
      return;
    }
    form.dataset.submitting = "yes";
  });
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("form-errors");
    if (summary) summary.focus();
  });
})();
