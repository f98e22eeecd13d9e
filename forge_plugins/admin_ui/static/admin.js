/* Forge admin UI: small progressive enhancements. Every page works without this file; with it,
   lists filter as you type, JSON fields are checked as you leave them, "try it" answers in place,
   and endpoint URLs and client configurations copy with one click. No dependencies. */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  }

  function parseHtml(text) {
    return new DOMParser().parseFromString(text, "text/html");
  }

  /* Replace the element `id` of this page with the one of the same id in `doc`. */
  function swap(doc, id) {
    var fresh = doc.getElementById(id), current = document.getElementById(id);
    if (fresh && current) current.replaceWith(document.importNode(fresh, true));
    return document.getElementById(id);
  }

  /* Lists: the search box and the state filter reload only the results, as you type. */
  function liveSearch(form) {
    var target = form.getAttribute("data-live-search");
    var pending = null;
    var run = debounce(function () {
      var query = new URLSearchParams(new FormData(form));
      query.delete("page");
      var url = form.action + "?" + query.toString();
      if (pending) pending.abort();
      pending = new AbortController();
      fetch(url, { credentials: "same-origin", signal: pending.signal })
        .then(function (response) { return response.text(); })
        .then(function (text) {
          swap(parseHtml(text), target);
          history.replaceState(null, "", url);
          enhance(document.getElementById(target));
        })
        .catch(function (error) { if (error.name !== "AbortError") form.submit(); });
    }, 250);
    form.addEventListener("input", run);
    form.addEventListener("change", run);
  }

  /* JSON fields: a hint next to the field when it does not parse, and a button to tidy it. */
  function jsonField(area) {
    var hint = document.createElement("p");
    hint.className = "field-error";
    hint.id = area.id + "-client-error";
    hint.hidden = true;
    hint.setAttribute("aria-live", "polite");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.textContent = "Format JSON";
    button.setAttribute("aria-label", "Format the JSON of " + (area.labels[0] ? area.labels[0].textContent.trim() : area.name));
    area.insertAdjacentElement("afterend", button);
    button.insertAdjacentElement("afterend", hint);
    function check() {
      var text = area.value.trim();
      if (!text) { hint.hidden = true; return null; }
      try {
        var value = JSON.parse(text);
        hint.hidden = true;
        return value;
      } catch (error) {
        hint.textContent = "Not valid JSON: " + error.message;
        hint.hidden = false;
        return undefined;
      }
    }
    area.addEventListener("blur", check);
    button.addEventListener("click", function () {
      var value = check();
      if (value !== undefined && value !== null) area.value = JSON.stringify(value, null, 2);
    });
  }

  /* Copy the text of the element a button names, and say so; where the browser refuses, select
     the text so that Ctrl+C copies it. */
  function copyButton(button) {
    var label = button.textContent;
    function say(text) {
      button.textContent = text;
      setTimeout(function () { button.textContent = label; }, 1500);
    }
    function select(source) {
      var range = document.createRange();
      range.selectNodeContents(source);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      say("Selected: press Ctrl+C");
    }
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      if (!navigator.clipboard) { select(source); return; }
      navigator.clipboard.writeText(source.textContent.trim())
        .then(function () { say("Copied"); })
        .catch(function () { select(source); });
    });
  }

  /* Long checkbox lists: hide the entries that do not match what is typed. */
  function listFilter(input) {
    var list = document.getElementById(input.getAttribute("data-filter-list"));
    if (!list) return;
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(list.children, function (item) {
        item.hidden = needle !== "" && item.textContent.toLowerCase().indexOf(needle) === -1;
      });
    });
  }

  /* "Try it" and prompt previews: post the form, show the answer in place, keep the inputs. */
  function asyncResult(form) {
    var target = form.getAttribute("data-async-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      var region = document.getElementById(target);
      if (region) region.setAttribute("aria-busy", "true");
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(new FormData(form)).toString()
      })
        .then(function (response) { return response.text(); })
        .then(function (text) {
          var doc = parseHtml(text);
          var freshForm = doc.querySelector("form[data-async-result='" + target + "']");
          if (freshForm) {  /* field errors live in the form */
            Array.prototype.forEach.call(form.querySelectorAll(".field"), function (field, index) {
              var fresh = freshForm.querySelectorAll(".field")[index];
              var error = fresh && fresh.querySelector(".field-error:not([id$='-client-error'])");
              var old = field.querySelector(".field-error:not([id$='-client-error'])");
              if (old) old.remove();
              if (error) field.appendChild(document.importNode(error, true));
              field.classList.toggle("has-error", Boolean(error));
            });
          }
          var region = swap(doc, target);
          if (region) enhance(region);
        })
        .catch(function () { form.submit(); })
        .finally(function () { if (button) button.disabled = false; });
    });
  }

  function each(root, selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  function enhance(root) {
    if (!root) return;
    each(root, "form[data-live-search]", liveSearch);
    each(root, "textarea[data-json]", jsonField);
    each(root, "[data-copy]", copyButton);
    each(root, "input[data-filter-list]", listFilter);
    each(root, "form[data-async-result]", asyncResult);
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    var summary = document.querySelector("[data-autofocus]");
    if (summary) summary.focus();
  });
})();
