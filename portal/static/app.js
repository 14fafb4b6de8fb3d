// sspr portal: progressive enhancement only. Every page works without
// this script; with it, the phone gate follows the call live and the
// password form checks itself before it is sent.
"use strict";

(function () {
  // Move focus to the error summary, so that it is read first.
  var errors = document.getElementById("errors");
  if (errors) {
    errors.focus();
  }

  // The phone gate: follow the call over server-sent events, and reload
  // the page when the gate or the call changes.
  var gate = document.getElementById("phone-gate");
  if (gate && window.EventSource) {
    var pageGate = Number(gate.getAttribute("data-gate"));
    var pageRunning = gate.getAttribute("data-running") === "true";
    var pageStage = gate.getAttribute("data-stage") || "";
    var status = document.getElementById("call-status");
    var here = window.location.pathname;
    var es = new EventSource(gate.getAttribute("data-events"));
    var reloading = false;
    es.onmessage = function (ev) {
      var s;
      try {
        s = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (s.text && status && status.textContent !== s.text) {
        status.textContent = s.text;
      }
      var changed = s.done || s.gate !== pageGate || s.running !== pageRunning ||
        (gate.hasAttribute("data-stage") && (s.stage || "") !== pageStage);
      if (changed && !reloading) {
        reloading = true;
        es.close();
        // A GET of the session's page: never posts a form again.
        window.location.replace(here);
      }
    };
  }

  // The new password form: the same checks as the server, before sending.
  var form = document.getElementById("password-form");
  if (form) {
    var pw = document.getElementById("password");
    var pw2 = document.getElementById("password2");
    var showError = function (input, text) {
      var id = input.id + "-client-error";
      var p = document.getElementById(id);
      if (!p) {
        p = document.createElement("p");
        p.id = id;
        p.className = "field-error";
        p.setAttribute("role", "alert");
        input.parentNode.insertBefore(p, input);
      }
      p.textContent = text;
      input.setAttribute("aria-invalid", "true");
      var described = (input.getAttribute("aria-describedby") || "").split(" ");
      if (described.indexOf(id) < 0) {
        described.push(id);
        input.setAttribute("aria-describedby", described.join(" ").trim());
      }
      input.focus();
    };
    var clearError = function (input) {
      var p = document.getElementById(input.id + "-client-error");
      if (p) {
        p.parentNode.removeChild(p);
      }
    };
    form.addEventListener("submit", function (ev) {
      clearError(pw);
      clearError(pw2);
      var min = Number(pw.getAttribute("minlength")) || 0;
      if (Array.from(pw.value).length < min) {
        ev.preventDefault();
        showError(pw, pw.getAttribute("data-min-message"));
        return;
      }
      if (pw.value !== pw2.value) {
        ev.preventDefault();
        showError(pw2, pw2.getAttribute("data-mismatch-message"));
      }
    });
  }
})();
