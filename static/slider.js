/* A slider item (REDCap's slider field) drawn as a slider beside its number box.
 *
 * The number box stays the answer: it is what is posted, what the label names, what keyboards
 * and screen readers use, and all there is without this script. The slider beside it is for
 * pointers and fingers only (hidden from assistive technology, out of the tab order): moving it
 * writes the box, typing in the box moves it. Like REDCap's, it shows no handle until an answer
 * is given, so an untouched slider is not read as an answer in its middle.
 */
(function () {
  "use strict";

  function enhance(box) {
    var slider = document.createElement("input");
    slider.type = "range";
    slider.className = "slider";
    slider.min = box.min;
    slider.max = box.max;
    slider.step = "1";
    slider.tabIndex = -1;
    slider.setAttribute("aria-hidden", "true");

    // The slider shows the box's answer when it is a whole number within the bounds; any
    // other text (being typed, or wrong: the server says so) leaves it without a handle.
    function follow() {
      var text = box.value.trim(), value = Number(text);
      var answered = text !== "" && Number.isInteger(value) &&
        value >= Number(box.min) && value <= Number(box.max);
      slider.classList.toggle("unset", !answered);
      if (answered) slider.value = String(value);
    }

    slider.addEventListener("input", function () {
      box.value = slider.value;
      slider.classList.remove("unset");
    });
    box.addEventListener("input", follow);

    var row = document.createElement("div");
    row.className = "slider-row";
    box.parentNode.insertBefore(row, box);
    row.appendChild(slider);
    row.appendChild(box);
    follow();
  }

  function enhanceAll() {
    document.querySelectorAll("input[data-slider]").forEach(enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhanceAll);
  } else {
    enhanceAll();
  }
})();
