"""Default plugin: with AUTH_REQUIRED=false every caller is the anonymous administrator.

With AUTH_REQUIRED=true this plugin answers nothing, so a real authentication plugin (such as
forge-auth-basic-jwt) must vouch for each caller.
"""

from forge.contracts import ANONYMOUS
from forge.hookspecs import hookimpl


@hookimpl(trylast=True)
def forge_authenticate(gateway, credentials):
    if not gateway.settings.auth_required:
        return ANONYMOUS
    return None
