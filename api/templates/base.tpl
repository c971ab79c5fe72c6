<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{csrf}}">
<title>{{title}} · Decypharr</title>
<link rel="stylesheet" href="{{prefix}}/static/style.css">
<link rel="icon" href="{{prefix}}/static/favicon.svg" type="image/svg+xml">
<script src="{{prefix}}/static/app.js" defer></script>
% for script in scripts:
<script src="{{prefix}}/static/{{script}}" defer></script>
% end
</head>
<body data-prefix="{{prefix}}" data-page="{{active}}">
<header class="top">
  <a class="brand" href="{{prefix}}/">Decypharr</a>
  % if nav:
  <nav class="nav" aria-label="main">
    % for key, label in nav_items:
    <a href="{{prefix}}/{{key}}" class="{{'active' if key == active else ''}}">{{label}}</a>
    % end
  </nav>
  <div class="who">
    % if user:
    <span class="user" id="current-user">{{user}}</span>
    % end
    <form method="post" action="{{prefix}}/logout" class="inline">
      <input type="hidden" name="csrf_token" value="{{csrf}}">
      <button type="submit" class="link" id="logout">Log out</button>
    </form>
  </div>
  % end
</header>
<main>
<h1>{{title}}</h1>
<p class="error" id="error" role="alert" hidden></p>
{{!base}}
</main>
<footer class="foot">decypharr {{version}}</footer>
</body>
</html>
