// Progressive enhancement: the pages work without it. With it, the header's
// unread count follows live, and a feed page says "N new posts" (a link that
// reloads it). Server-Sent Events from /api/cg/v1/stream; no polling.
(function () {
  "use strict";
  if (!window.EventSource) return;
  var path = window.location.pathname;
  var feed = path === "/" ? "home" : (path.match(/^\/c\/([A-Za-z0-9_-]+)$/) || [])[1];
  if (feed && feed !== "home") feed = "community:" + feed;
  var url = "/api/cg/v1/stream" + (feed ? "?feed=" + encodeURIComponent(feed) : "");
  var source = new EventSource(url);
  var fresh = 0;

  source.addEventListener("notification", function (event) {
    var unread = JSON.parse(event.data).unread;
    var link = document.querySelector("[data-notifications]");
    if (!link || typeof unread !== "number") return;
    var badge = link.querySelector("[data-unread]");
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "unread";
      badge.setAttribute("data-unread", "");
      link.appendChild(document.createTextNode(" "));
      link.appendChild(badge);
    }
    badge.textContent = String(unread);
    badge.setAttribute("aria-label", unread + " unread");
    badge.hidden = unread === 0;
  });

  source.addEventListener("feed.new", function () {
    fresh += 1;
    var banner = document.getElementById("new-posts");
    if (!banner) {
      banner = document.createElement("p");
      banner.id = "new-posts";
      banner.className = "flash";
      banner.setAttribute("role", "status");
      var link = document.createElement("a");
      link.href = path;
      banner.appendChild(link);
      var main = document.getElementById("main");
      main.insertBefore(banner, main.firstChild);
    }
    banner.firstChild.textContent = fresh === 1 ? "1 new post" : fresh + " new posts";
  });
})();
