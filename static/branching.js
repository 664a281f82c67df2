/* Branching logic on the trainee's questionnaire pages: shows an item only while its condition
 * holds, with the same rules as the server (instruments/branching.py, whose docstring is the
 * reference). Conditions arrive as the JSON of instruments.branching.to_json, in each item's
 * data-show-if attribute; nothing is ever evaluated as code.
 *
 * Without this script the server's own decision stands: items hidden when the page was built
 * stay hidden until the page is submitted and rebuilt.
 */
(function () {
  "use strict";

  // What counts as a number when comparing: the same pattern as NUMBER in branching.py.
  var NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

  // -1, 0 or 1 by Unicode code point, as Python compares strings (JavaScript's own < compares
  // UTF-16 code units, which differs for characters beyond U+FFFF).
  function compareText(a, b) {
    var x = Array.from(a), y = Array.from(b);
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      var d = x[i].codePointAt(0) - y[i].codePointAt(0);
      if (d !== 0) return d < 0 ? -1 : 1;
    }
    return x.length === y.length ? 0 : (x.length < y.length ? -1 : 1);
  }

  function compare(left, op, right) {
    var numeric = NUMBER.test(left) && NUMBER.test(right);
    if (op === "=" || op === "<>") {
      var equal = numeric ? Number(left) === Number(right) : left === right;
      return op === "=" ? equal : !equal;
    }
    if (left === "" || right === "") return false;
    var order;
    if (numeric) {
      var x = Number(left), y = Number(right);
      order = x < y ? -1 : (x > y ? 1 : 0);
    } else {
      order = compareText(left, right);
    }
    if (op === "<") return order < 0;
    if (op === ">") return order > 0;
    if (op === "<=") return order <= 0;
    if (op === ">=") return order >= 0;
    throw new Error("unknown operator " + op);
  }

  // Whether a condition (to_json form) holds; answers maps field -> text, or null when
  // unanswered or not shown.
  function evaluate(condition, answers) {
    var head = condition[0], parts = condition.slice(1);
    if (head === "and") return parts.every(function (p) { return evaluate(p, answers); });
    if (head === "or") return parts.some(function (p) { return evaluate(p, answers); });
    if (head === "not") return !evaluate(parts[0], answers);
    var field = condition[1], code = condition[2], value = condition[3];
    var own = Object.prototype.hasOwnProperty.call(answers, field) ? answers[field] : null;
    var answer = own === null || own === undefined ? "" : String(own);
    if (code !== null) {
      var ticked = answer.split(",").map(function (c) { return c.trim(); });
      answer = ticked.indexOf(code) >= 0 ? "1" : "0";
    }
    return compare(answer, head, value);
  }

  // The inputs of item `key` (named q_<key>) inside `item`.
  function inputsOf(item, key) {
    return Array.prototype.filter.call(
      item.querySelectorAll("input, select, textarea"),
      function (input) { return input.name === "q_" + key; });
  }

  // The current answer of an item as the server would store it.
  function currentValue(item, key) {
    var inputs = inputsOf(item, key);
    var ticked = [];
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if (input.type === "checkbox") {
        if (input.checked) ticked.push(input.value);
      } else if (input.type === "radio") {
        if (input.checked) return input.value;
      } else {
        return input.value.trim();
      }
    }
    return ticked.join(",");
  }

  function readCondition(item) {
    try {
      return JSON.parse(item.getAttribute("data-show-if"));
    } catch (error) {
      // Leave the server's decision standing for this item, and say so.
      console.error("branching: unreadable data-show-if on item " + item.dataset.item);
      return null;
    }
  }

  function setUp(form) {
    var saved = JSON.parse(form.getAttribute("data-answers") || "{}");
    var items = Array.prototype.slice.call(form.querySelectorAll("[data-item]"));
    var conditions = items.map(function (item) {
      return item.hasAttribute("data-show-if") ? readCondition(item) : null;
    });
    // The later pages when each may be skipped (data-later: a page is a list of [key,
    // condition]): their items are decided with the page's, so that the button can say
    // whether a next page follows. Their answers, if saved, are among the saved ones.
    var later = JSON.parse(form.getAttribute("data-later") || "[]").map(function (page) {
      return page.map(function (entry) {
        return { key: entry[0], condition: entry[1], hidden: false };
      });
    });
    var laterItems = [].concat.apply([], later);
    var button = form.querySelector("button[data-last-label]");

    function answers() {
      var all = Object.assign({}, saved);
      items.forEach(function (item) {
        var key = item.dataset.item;
        all[key] = item.hidden ? null : currentValue(item, key);
      });
      laterItems.forEach(function (item) {
        if (item.hidden) all[item.key] = null;
      });
      return all;
    }

    function refresh() {
      // Hiding one item can hide another whose condition reads it, so decide again until
      // nothing changes. Without a cycle among the conditions this settles within one pass per
      // item; the cap only guards against a cycle.
      for (var pass = 0; pass <= items.length + laterItems.length; pass++) {
        var now = answers(), changed = false;
        items.forEach(function (item, i) {
          if (conditions[i] === null) return;
          var hidden = !evaluate(conditions[i], now);
          if (item.hidden !== hidden) {
            item.hidden = hidden;
            changed = true;
          }
        });
        laterItems.forEach(function (item) {
          var hidden = !evaluate(item.condition, now);
          if (item.hidden !== hidden) {
            item.hidden = hidden;
            changed = true;
          }
        });
        if (!changed) break;
      }
      if (button && later.length) {
        var more = later.some(function (page) {
          return page.some(function (item) { return !item.hidden; });
        });
        button.textContent = button.getAttribute(more ? "data-next-label" : "data-last-label");
      }
      // Inputs of a hidden item are disabled so that they are not posted.
      items.forEach(function (item) {
        inputsOf(item, item.dataset.item).forEach(function (input) {
          input.disabled = item.hidden;
        });
      });
      var shownKeys = items.filter(function (item) { return !item.hidden; })
        .map(function (item) { return item.dataset.item; });
      form.querySelectorAll("[data-section-items]").forEach(function (section) {
        var listed = section.getAttribute("data-section-items").split(/\s+/).filter(Boolean);
        section.hidden = listed.every(function (key) { return shownKeys.indexOf(key) < 0; });
      });
      var shown = form.querySelector('input[name="shown"]');
      if (shown) shown.value = shownKeys.join(" ");
    }

    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    refresh();
  }

  function setUpAll() {
    document.querySelectorAll("form.questionnaire").forEach(setUp);
  }

  // For tests and for pages that add a questionnaire after loading.
  window.AllportBranching = { evaluate: evaluate, setUp: setUp };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
})();
