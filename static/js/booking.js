/* The consultation request form: picking a day shows its open times without reloading.
   Without this script every day is a link to the same page, which shows that day's times. */
(function () {
  "use strict";

  var chooser = document.getElementById("day-chooser");
  var form = document.getElementById("booking-form");
  var timeList = document.getElementById("time-list");
  if (!chooser || !form || !timeList || !window.fetch) {
    return;
  }
  var timesUrl = chooser.getAttribute("data-times-url");
  var dayList = chooser.querySelector(".day-list");
  var status = document.getElementById("times-status");
  var pending = null;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function renderDays(data) {
    dayList.replaceChildren();
    data.days.forEach(function (day) {
      var link = element("a", "day" + (day.current ? " is-current" : ""));
      link.href = day.url;
      link.rel = "nofollow";
      link.setAttribute("data-day", day.date);
      if (day.current) {
        link.setAttribute("aria-current", "date");
      }
      link.appendChild(element("span", "day-weekday", day.weekday));
      link.appendChild(document.createTextNode(" "));
      link.appendChild(element("span", "day-date", day.label));
      var item = element("li");
      item.appendChild(link);
      dayList.appendChild(item);
    });
    dayList.hidden = data.days.length === 0;
    [["earlier", data.earlier_url], ["later", data.later_url]].forEach(function (pair) {
      var link = chooser.querySelector('[data-direction="' + pair[0] + '"]');
      if (link) {
        link.href = pair[1] || "#";
        link.hidden = !pair[1];
      }
    });
  }

  function renderTimes(data) {
    timeList.replaceChildren();
    if (data.times.length === 0) {
      timeList.appendChild(
        element("p", "no-times", "No open times on " + data.day_label + ". Please choose another day.")
      );
      return;
    }
    var group = element("div", "slot-group");
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", "slot-group-0");
    var title = element("p", "slot-group-title", "Open times on " + data.day_label);
    title.id = "slot-group-0";
    var grid = element("div", "slot-grid");
    data.times.forEach(function (time, index) {
      var option = element("div", "slot-option");
      var input = element("input", "btn-check");
      input.type = "radio";
      input.name = "slot";
      input.id = "id_slot_" + index;
      input.value = time.value;
      input.required = true;
      var label = element("label", "btn slot", time.label);
      label.htmlFor = input.id;
      option.appendChild(input);
      option.appendChild(label);
      grid.appendChild(option);
    });
    group.appendChild(title);
    group.appendChild(grid);
    timeList.appendChild(group);
  }

  function show(pageUrl) {
    var query = new URL(pageUrl, window.location.href).search;
    if (pending) {
      pending.abort();
    }
    pending = new AbortController();
    fetch(timesUrl + query, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      signal: pending.signal,
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        renderDays(data);
        renderTimes(data);
        form.elements.day.value = data.day;
        window.history.replaceState(null, "", pageUrl);
        var current = dayList.querySelector('[aria-current="date"]');
        if (current) {
          current.focus();
        }
        status.textContent =
          data.times.length === 1
            ? "1 open time on " + data.day_label + "."
            : data.times.length + " open times on " + data.day_label + ".";
      })
      .catch(function (error) {
        if (error.name !== "AbortError") {
          window.location.href = pageUrl; // The page itself still works: load it.
        }
      });
  }

  chooser.addEventListener("click", function (event) {
    var link = event.target.closest("a.day, a.day-page");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    show(link.href);
  });
})();
