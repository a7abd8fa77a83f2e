"""`python manage.py demo`, by subject: `setup` (admin, secret, client.json), `processes`
(the web server and worker it runs), `examples` (running examples/*.py) and `output`
(what it prints). The command in management/commands/demo.py ties them together."""
