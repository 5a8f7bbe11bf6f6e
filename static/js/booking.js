/* The consultation request form: picking a treatment, a practitioner or a day shows the
   open times without reloading, so what the patient has typed stays where it is. Without
   this script every choice is a link to the same page, which shows that choice's times. */
(function () {
  "use strict";

  var chooser = document.getElementById("day-chooser");
  var form = document.getElementById("booking-form");
  var timeList = document.getElementById("time-list");
  if (!chooser || !form || !timeList || !window.fetch) {
    return;
  }
  // A form shown again offers its choices as buttons that send it back with what was
  // typed (time_chooser.html): they work as they are.
  if (document.querySelector('button[name="choose"]')) {
    return;
  }
  var timesUrl = chooser.getAttribute("data-times-url");
  var dayList = chooser.querySelector(".day-list");
  var status = document.getElementById("times-status");
  var choiceLinks = document.querySelectorAll("a.choice[data-choice]");
  var pending = null;
  // Where a day, and a page of days, lead to in the page (as in time_chooser.html): a
  // link opened in a new tab lands on the next step, as without this script.
  var TIMES = "#time-choice";
  var DAYS = "#day-choice";

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
      link.href = day.url + TIMES;
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
        link.href = pair[1] ? pair[1] + DAYS : "#";
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
      // Back must not tick whichever time is now at the place of the one booked.
      input.autocomplete = "off";
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

  function renderChoices(data) {
    choiceLinks.forEach(function (link) {
      var kind = link.getAttribute("data-choice");
      var value = link.getAttribute("data-value");
      var current = data[kind] === value;
      var url = data.choices[kind][value];
      if (url) {
        link.href = url + link.hash; // The step it leads to stays the same.
      }
      link.classList.toggle("is-current", current);
      if (current) {
        link.setAttribute("aria-current", "true");
      } else {
        link.removeAttribute("aria-current");
      }
    });
    form.elements.service.value = data.service;
    form.elements.practitioner.value = data.practitioner;
  }

  function summary(data) {
    var count =
      data.times.length === 1
        ? "1 open time on " + data.day_label + "."
        : data.times.length + " open times on " + data.day_label + ".";
    var choice = data.service_label;
    if (data.practitioner_label) {
      choice += " with " + data.practitioner_label;
    }
    return choice + ": " + count;
  }

  function show(pageUrl, focusDay) {
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
        if (data.days.length === 0) {
          window.location.href = pageUrl; // The page says what to do when nothing is open.
          return;
        }
        renderDays(data);
        renderTimes(data);
        renderChoices(data);
        form.elements.day.value = data.day;
        window.history.replaceState(null, "", pageUrl);
        var current = dayList.querySelector('[aria-current="date"]');
        if (current && focusDay) {
          current.focus();
        }
        status.textContent = summary(data);
      })
      .catch(function (error) {
        if (error.name !== "AbortError") {
          window.location.href = pageUrl; // The page itself still works: load it.
        }
      });
  }

  function followed(event, selector) {
    var link = event.target.closest(selector);
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
      return null;
    }
    return link;
  }

  chooser.addEventListener("click", function (event) {
    var link = followed(event, "a.day, a.day-page");
    if (link) {
      event.preventDefault();
      show(link.href, true);
    }
  });

  // Only when the page has open times: otherwise it shows what to do, and a choice
  // loads the page that says it for the new one.
  if (!dayList.hidden) {
    choiceLinks.forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (followed(event, "a.choice")) {
          event.preventDefault();
          show(link.href, false);
        }
      });
    });
  }
})();
