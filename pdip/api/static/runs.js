// Run history pages: throughput charts (uPlot) from throughput samples, kept live by the
// execution's Server-Sent Events while it runs. Samples are [seconds, rows written so far];
// a chart shows rows per second between consecutive samples.
(function () {
  "use strict";

  var charts = {};
  window.pdipCharts = charts; // for the browser test, and for anyone poking at the page

  function rates(samples) {
    var seconds = [], perSecond = [], since = 0, counted = 0;
    samples.forEach(function (sample) {
      if (sample[0] <= since) {
        return; // no time passed: its rows join the next interval
      }
      seconds.push(sample[0]);
      perSecond.push(Math.round((sample[1] - counted) / (sample[0] - since)));
      since = sample[0];
      counted = sample[1];
    });
    return [seconds, perSecond];
  }

  function chart(element, samples) {
    var options = {
      width: Math.max(element.clientWidth, 320),
      height: 200,
      scales: { x: { time: false } },
      axes: [{ label: "seconds" }, { label: "rows/s", size: 70 }],
      series: [{ label: "s" }, { label: "rows/s", stroke: "#2a6fdb", width: 2, points: { show: true, size: 5 } }],
    };
    var drawn = new uPlot(options, rates(samples), element);
    drawn.samples = samples;
    return drawn;
  }

  function sparkline(element, samples) {
    var options = {
      width: 120,
      height: 30,
      scales: { x: { time: false } },
      legend: { show: false },
      cursor: { show: false },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: "#2a6fdb", width: 1, points: { show: false } }],
    };
    return new uPlot(options, rates(samples), element);
  }

  function samplesOf(element) {
    return JSON.parse(element.getAttribute("data-samples") || "[]");
  }

  function follow(url) {
    var source = new EventSource(url);
    source.addEventListener("BatchWritten", function (message) {
      var event = JSON.parse(message.data);
      var drawn = charts[event.integration];
      if (!drawn) {
        return;
      }
      drawn.samples.push([event.seconds, event.total_rows]);
      drawn.setData(rates(drawn.samples));
      var section = document.getElementById("integration-" + event.integration);
      section.querySelector(".written").textContent = event.total_rows.toLocaleString("en");
    });
    source.addEventListener("IntegrationStarted", function (message) {
      if (!charts[JSON.parse(message.data).integration]) {
        source.close();
        window.location.reload(); // a section for the new integration comes with the page
      }
    });
    source.addEventListener("OperationFinished", function () {
      source.close();
      window.location.reload(); // the stored record now has everything: errors, dead letters
    });
    source.addEventListener("ExecutionStatus", function () {
      source.close(); // another server process runs it: no events here to follow
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".chart").forEach(function (element) {
      var name = element.parentElement.getAttribute("data-integration");
      charts[name] = chart(element, samplesOf(element));
    });
    document.querySelectorAll(".sparkline").forEach(function (element) {
      var samples = samplesOf(element);
      if (samples.length) {
        sparkline(element, samples);
      }
    });
    var events = document.body.getAttribute("data-events");
    if (events) {
      follow(events);
    }
  });
})();
