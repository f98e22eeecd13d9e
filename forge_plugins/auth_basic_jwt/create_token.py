"""`python -m forge_plugins.auth_basic_jwt.create_token --username admin --exp 10080 --secret KEY`"""

from forge_plugins.auth_basic_jwt.tokens import token_command

if __name__ == "__main__":
    token_command(prog_name="python -m forge_plugins.auth_basic_jwt.create_token")
