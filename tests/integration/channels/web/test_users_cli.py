"""`supportbot users add|token|revoke-token`, and the printed token working on the API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.bootstrap import bootstrap
from bot.cli import app
from bot.settings import load_settings
from channels.web.app import create_app
from channels.web.passwords import verify_password


def test_add_user_issue_token_use_and_revoke(env: dict[str, str]) -> None:
    runner = CliRunner()
    added = runner.invoke(
        app, ["users", "add", "carol", "--role", "manager", "--password-stdin"], input="s3cret-pw\n"
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(
        app, ["users", "add", "carol", "--role", "agent", "--password-stdin"], input="s3cret-pw\n"
    )
    assert again.exit_code != 0
    short = runner.invoke(
        app, ["users", "add", "dan", "--role", "agent", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0
    issued = runner.invoke(app, ["users", "token", "carol", "--name", "crm"])
    assert issued.exit_code == 0, issued.output
    secret = issued.stdout.strip().splitlines()[-1]
    assert secret.startswith("sbt_")

    services = bootstrap(load_settings())
    try:
        with services.new_uow() as uow:
            user = uow.users.get_by_login("carol")
            assert user is not None and verify_password(user.password_hash, "s3cret-pw")
            assert not verify_password(user.password_hash, "wrong")
            assert user.id is not None
            [token] = uow.tokens.list_for_user(user.id)
            assert token.token_hash != secret  # only the hash is kept
        client = TestClient(create_app(services))
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/tickets", headers=headers).status_code == 200
        revoked = runner.invoke(app, ["users", "revoke-token", str(token.id)])
        assert revoked.exit_code == 0, revoked.output
        assert client.get("/api/tickets", headers=headers).status_code == 401
    finally:
        services.close()
