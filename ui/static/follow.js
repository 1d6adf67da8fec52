// Follows a run that has not ended. Each "output" event of the stream named by the
// log's data-follow carries the run's whole output so far, which replaces the log's
// text, and its record, whose state the page shows; "end" says the run has ended.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !log.dataset.follow || !window.EventSource) {
    return;
  }
  var state = document.getElementById("state");
  var note = document.getElementById("follow-note");
  var classes = JSON.parse(log.dataset.classes || "{}");
  var stream = new EventSource(log.dataset.follow);
  stream.addEventListener("output", function (e) {
    var d = JSON.parse(e.data);
    log.textContent = d.output || "";
    log.scrollTop = log.scrollHeight;
    if (d.run && state) {
      state.textContent = d.run.state;
      state.className = "badge " + (classes[d.run.state] || "none");
    }
  });
  stream.addEventListener("end", function () {
    stream.close();
    document.body.dataset.follow = "ended";
    note.textContent = "The run has ended. Reload the page for its exit code and error.";
  });
  stream.addEventListener("error", function (e) {
    if (e.data) { // the server's own error event; a dropped connection has none and is retried
      stream.close();
      note.textContent = "Following stopped: " + JSON.parse(e.data).error;
    }
  });
})();
