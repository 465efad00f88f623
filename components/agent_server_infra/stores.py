"""What the two data-store components share: validation of their own args, generated secrets, final snapshot
names, external URIs, tags."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

import pulumi
import pulumi_random as random

from .inputs import prevalidated, validate_args
from .unknowns import known

URL_SAFE_SPECIALS = "-_.~"
"""RFC 3986 unreserved punctuation: allowed in RDS passwords and never needs encoding (URIs are still always
encoded, since external URIs and user-supplied passwords may contain anything)."""


def generated_password(name: str, parent: pulumi.Resource, length: int, specials: str = URL_SAFE_SPECIALS,
                       keepers: Mapping[str, str] | None = None) -> random.RandomPassword:
    """A generated secret of letters, digits and ``specials`` (by default ``-_.~``) with every character class
    present; a change of ``keepers`` generates a new one."""
    return random.RandomPassword(
        name,
        length=length,
        keepers=dict(keepers) if keepers else None,
        special=True,
        override_special=specials,
        min_lower=1,
        min_upper=1,
        min_numeric=1,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def final_snapshot_suffix(name: str, parent: pulumi.Resource, keepers: Mapping[str, pulumi.Input[str]],
                          ) -> pulumi.Output[str]:
    """8 random hex digits for a final snapshot's name, kept until one of ``keepers`` (the inputs that replace
    the store) changes: every deletion of a store, a replacement or a stack destroyed and deployed again, leaves
    a snapshot of a new name, where a fixed name fails the second time with SnapshotAlreadyExists."""
    return known(random.RandomId(
        name, byte_length=4, keepers=dict(keepers), opts=pulumi.ResourceOptions(parent=parent),
    ).hex)


def secret_uri(uri: pulumi.Input[str]) -> tuple[pulumi.Output[str], Callable[[Callable[[SplitResult], Any]],
                                                                          pulumi.Output[Any]]]:
    """An external store's URI as a secret Output, and a reader of its parts (each a secret Output too: the
    parts hold the password; each read parses the URI again, as a parsed URI is no value an Output carries)."""
    secret = pulumi.Output.secret(pulumi.Output.from_input(uri))

    def part(read: Callable[[SplitResult], Any]) -> pulumi.Output[Any]:
        return secret.apply(lambda text: read(urlsplit(text)))  # secret, as what it is read from

    return secret, part


def tags_of(tags: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(tags or {})


class DataStore(pulumi.ComponentResource):
    """A data store component (``Postgres``, ``Redis``): built from its own args, validated on their own (the
    network, its section and its external URI), or from config ``AgentServer`` validated with the whole stack.

    Subclasses name their section, URI secret and type token and implement ``_build``.
    """

    section = ""
    uri_secret = ""
    type_token = ""
    alarmed = False
    """Whether a server created this store's alarms already (the first server with alarms on it does)."""

    def _from_args(self, name: str, args: Mapping[str, Any], opts: pulumi.ResourceOptions | None) -> None:
        validated = validate_args({"network": args.get("network"), self.section: args.get(self.section) or {},
                                   "naming": args.get("naming")},
                                  {self.uri_secret: args.get(self.uri_secret)}, source=f"{type(self).__name__} {name}",
                                  sections=("network", self.section, "naming", "secrets"))
        pulumi.ComponentResource.__init__(self, self.type_token, name, None, opts)
        pinned = validated.config.naming
        self._build(name, getattr(validated.config, self.section), validated.config.network,
                    validated.secrets.get(self.uri_secret), args.get("tags"), pinned.name if pinned else None)

    @classmethod
    def _validated(cls, name: str, config: Any, network: Any, uri: pulumi.Output[str] | None,
                   tags: Mapping[str, Any] | None, opts: pulumi.ResourceOptions | None = None,
                   stem: str | None = None) -> Any:
        """A store of config that ``AgentServer`` validated already (with the whole stack); ``stem`` pins its
        physical names."""
        store = prevalidated(cls, cls.type_token, name, opts)
        store._build(name, config, network, uri, tags, stem)
        return store

    def _build(self, name: str, config: Any, network: Any, uri: pulumi.Output[str] | None,
               tags: Mapping[str, Any] | None, stem: str | None = None) -> None:
        raise NotImplementedError

