"""The whole service on one machine, no Docker and no AWS account.

moto's server plays AWS on loopback, with the tables (and their streams), queues, event buses,
buckets (and their notifications to queues) and secrets of template.yaml; the functions run in
this process, loaded from their CodeUri and Handler, one poller thread per SQS event source and
one per DynamoDB stream event source play Lambda's event source mappings (see
`local.runtime.poller` and `local.runtime.stream_poller`), and one thread per scheduled rule
plays EventBridge's schedule (see `local.runtime.scheduler`; `run_schedule` fires one at once).
`subscribe` puts a queue and a rule on the template's event bus, as a caller would, and `events`
reads what reached it. Provider sandboxes stand in for the providers (see `local.providers`).
The HTTP API's routes are answered in-process by `call_api`, as API Gateway would (see
`local.runtime.gateway`), and, given an `http_port`, over HTTP at `stack.api_url` (see
`local.runtime.http_server`). The template's user pools are created in moto's Cognito, and routes
behind a JWT authorizer take only the pool's valid tokens; with an `http_port`, the pool's managed
login is played on its own port (`stack.sign_in_url`, see `local.aws.managed_login`) and the
console's client sends people back to `{api_url}/console`.

    with LocalStack(providers=[wiring(sandbox)]) as stack:
        stack.send_message(stack.provider_queue(name), json.dumps(body))
        status, headers, body = stack.call_api("GET", "/disputes", query={"reference": "T-1"})
        queue = stack.subscribe("my-team", {"source": ["dispute-gateway"]})
        changes = stack.events(queue)

The functions share this process: see `local.runtime.functions` for what that limits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import boto3
import requests

from dispute_gateway.api_settings import ApiSettings
from dispute_gateway.providers import provider_spec
from local.aws.cognito import add_user, allow_sign_in, issuer
from local.aws.embedded import EmbeddedAws
from local.aws.intrinsics import as_text
from local.aws.managed_login import ManagedLogin
from local.aws.resources import LocalResources
from local.aws.template import (
    DEFAULT_REGION,
    LOCAL_STACK_NAME,
    TEMPLATE,
    ScheduleSpec,
    StreamEventSource,
    load_model,
    referenced_id,
)
from local.providers import ProviderWiring
from local.runtime.functions import LocalFunction, load_handler
from local.runtime.gateway import ApiAnswer, LocalHttpApi, RawAnswer, gateway_error
from local.runtime.http_api import Body, QueryValues, new_request_id
from local.runtime.http_server import LocalHttpServer
from local.runtime.jwt_authorizer import IssuerKeys, JwtAuthorizer
from local.runtime.poller import SqsPoller
from local.runtime.scheduler import Scheduler, event_for, rule_arn
from local.runtime.stream_poller import StreamPoller

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# No X-Ray daemon runs locally.
LOCAL_FUNCTION_ENVIRONMENT = {"POWERTOOLS_TRACE_DISABLED": "true"}
# Each of these would send some AWS calls past AWS_ENDPOINT_URL, or sign them as a real identity.
_CLEARED_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_CLEARED_PREFIXES = ("AWS_ENDPOINT_URL_", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
_STOP_GRACE_SECONDS = 5
_MAX_RULE_NAME = 64
_MAX_QUEUE_NAME = 80
_SQS_RECEIVE_LIMIT = 10
# How long `events` hides the messages it has read, so that the next receive gets the ones after them.
_LOOK_SECONDS = 30
# Where the managed login sends people back: the console's page, which the template's
# ConsoleCallbackUrl parameter names in AWS (its ConsoleUrl output). The API function learns where
# to sign in from this variable.
SIGN_IN_PAGE = "/console"
SIGN_IN_VARIABLE = str(ApiSettings.model_fields["console_auth_url"].alias)


class LocalStack:
    def __init__(
        self,
        *,
        template: Path = TEMPLATE,
        providers: Iterable[ProviderWiring] = (),
        parameter_overrides: Mapping[str, Any] | None = None,
        environment_overrides: Mapping[str, Mapping[str, str]] | None = None,
        visibility_timeout_override: int | None = None,
        batching_window_override: float | None = None,
        schedule_override: float | None = None,
        poll: bool = True,
        region: str = DEFAULT_REGION,
        stack_name: str = LOCAL_STACK_NAME,
        aws_in_separate_process: bool = True,
        http_port: int | None = None,
    ) -> None:
        """`environment_overrides` is by function logical id; the overrides of visibility time-out
        (every queue) and batching window (every event source, SQS or stream) make retries quick locally
        (a poller warns of a visibility time-out not longer than its batching window: a message could
        then be handed out again while its batch is held);
        `schedule_override` (seconds) replaces the period of every rate schedule, so that
        a `rate(15 minutes)` rule fires every second in a test or the demo; `poll=False`
        creates everything but leaves invoking the functions to the caller (no pollers, no
        schedules); `http_port` (0: any free port) serves the HTTP API on 127.0.0.1."""
        if schedule_override is not None and schedule_override <= 0:
            raise ValueError(f"schedule_override must be positive, not {schedule_override}")
        self.model = load_model(template, parameter_overrides, region=region, stack_name=stack_name)
        self._providers = list(providers)
        self._environment_overrides = {name: dict(values) for name, values in (environment_overrides or {}).items()}
        self._visibility_override = visibility_timeout_override
        self._window_override = batching_window_override
        self._schedule_override = schedule_override
        self._poll = poll
        self._aws = EmbeddedAws(separate_process=aws_in_separate_process)
        self._saved_environment: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}
        self._resources: LocalResources | None = None
        self.endpoint_url = ""
        self.functions: dict[str, LocalFunction] = {}
        self.function_environments: dict[str, dict[str, str]] = {}
        self.pollers: list[SqsPoller] = []
        self.stream_pollers: list[StreamPoller] = []
        self.schedulers: list[Scheduler] = []
        self.http_api: LocalHttpApi | None = None
        self._http_port = http_port
        self._http_server: LocalHttpServer | None = None
        self._managed_login: ManagedLogin | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        try:
            self._start_aws()
            self._resources = LocalResources(self.model, self, visibility_timeout_override=self._visibility_override)
            self._resources.create_all()
            self._name_rules()
            if self._http_port is not None:
                # Listening first: the sign-in's callback and the functions' environment need its URL.
                self._http_server = LocalHttpServer(_Starting(self), port=self._http_port)  # type: ignore[arg-type]
                self._http_server.start()
                self._start_managed_login()
            self.function_environments = self._function_environments()
            self._load_functions()
            routes = [route for spec in self.model.functions.values() for route in spec.http_routes]
            self.http_api = LocalHttpApi(
                routes,
                self.invoke,
                account=self.model.account,
                region=self.model.region,
                authorizers=self._jwt_authorizers(),
            )
            if self._poll:
                self._start_pollers()
                self._start_schedulers()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """The HTTP server, schedulers and pollers first (an invocation under way finishes), then the
        embedded AWS; the environment is restored."""
        if self._http_server is not None:
            self._http_server.stop()
            self._http_server = None
        if self._managed_login is not None:
            self._managed_login.stop()
            self._managed_login = None
        for scheduler in self.schedulers:
            scheduler.stop(scheduler.function.timeout_seconds + _STOP_GRACE_SECONDS)
        self.schedulers.clear()
        for poller in self.pollers:
            poller.stop(poller.function.timeout_seconds + _STOP_GRACE_SECONDS)
        self.pollers.clear()
        for stream_poller in self.stream_pollers:
            stream_poller.stop(stream_poller.function.timeout_seconds + _STOP_GRACE_SECONDS)
        self.stream_pollers.clear()
        if self.endpoint_url:
            # The embedded AWS is going away: a failed courtesy call to it does not matter.
            with contextlib.suppress(requests.RequestException):
                requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=5)
        self._aws.stop()
        self._clients.clear()
        _reset_library_caches()
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what callers use ------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client of the embedded AWS (independent of this process's environment)."""
        if service not in self._clients:
            session: Any = boto3.session.Session(
                region_name=self.model.region,
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
            self._clients[service] = session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]

    @property
    def api_url(self) -> str:
        """Base URL of the HTTP API on loopback, e.g. http://127.0.0.1:3000 (needs `http_port`)."""
        if self._http_server is None:
            raise RuntimeError("the HTTP API is not served: start the stack with http_port")
        return self._http_server.url

    @property
    def sign_in_url(self) -> str:
        """Base URL of the user pool's managed login, played on loopback (needs `http_port`)."""
        if self._managed_login is None:
            raise RuntimeError("sign-in is not served: start the stack with http_port")
        return self._managed_login.url

    def add_user(self, pool: str, username: str, groups: list[str], password: str | None = None) -> str:
        """A user of the user pool with logical id `pool`, in `groups`, as an administrator adds one;
        their password (made up to fit the pool's policy unless given)."""
        return add_user(self.client("cognito-idp"), self.ref(pool), username, groups, password)

    def tokens(self, pool: str, client: str, username: str, password: str) -> dict[str, Any]:
        """The tokens moto's Cognito issues `username` for the client with logical id `client`."""
        answer = self.client("cognito-idp").admin_initiate_auth(
            UserPoolId=self.ref(pool),
            ClientId=self.ref(client),
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        return dict(answer["AuthenticationResult"])

    def ref(self, logical_id: str) -> str:
        """What `!Ref` gives: a table's name, a queue's URL, a secret's ARN."""
        value = self._created.ref(logical_id)
        if value is None:
            raise KeyError(f"{logical_id} is not a resource of the local stack")
        return value

    def arn(self, logical_id: str) -> str:
        value = self._created.get_att(logical_id, "Arn") or self._created.get_att(logical_id, "Id")
        if value is None:
            raise KeyError(f"{logical_id} has no ARN in the local stack")
        return value

    def provider_queue(self, provider: str) -> str:
        """Logical id of the queue the provider's worker consumes (the function reading its secret)."""
        variable = provider_spec(provider).secret_variable
        queues = [
            source.queue
            for spec in self.model.functions.values()
            if variable in spec.environment
            for source in spec.event_sources
        ]
        if len(queues) != 1:
            raise LookupError(
                f"{provider}: expected one queue consumed by a function reading {variable}, found {queues}"
            )
        return queues[0]

    def send_message(self, queue: str, body: str, **parameters: Any) -> str:
        """Put `body` on the queue with logical id `queue`; the message id."""
        response = self.client("sqs").send_message(QueueUrl=self.ref(queue), MessageBody=body, **parameters)
        return str(response["MessageId"])

    def subscribe(self, rule_name: str, pattern: dict[str, Any]) -> str:
        """Subscribe to the template's event bus as a caller would: a new SQS queue, and a rule named
        `rule_name` with the event `pattern` whose target it is. The queue's URL, for `events`.

        The queue gets the policy SQS needs to take EventBridge's messages (moto does not check it)."""
        bus = self._event_bus()
        sqs = self.client("sqs")
        # Rule names allow dots, queue names do not; the random part keeps two subscriptions apart.
        suffix = uuid.uuid4().hex[:12]
        stem = re.sub(r"[^A-Za-z0-9_-]", "-", rule_name)[: _MAX_QUEUE_NAME - len(suffix) - 1]
        queue_url: str = sqs.create_queue(QueueName=f"{stem}-{suffix}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = self.client("events")
        rule = events.put_rule(Name=rule_name, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EventBridgeSends",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule["RuleArn"]}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        events.put_targets(Rule=rule_name, EventBusName=bus, Targets=[{"Id": "subscriber", "Arn": queue_arn}])
        return queue_url

    def events(self, queue_url: str) -> list[dict[str, Any]]:
        """Every EventBridge event delivered to the queue so far (see `subscribe`), parsed, once each
        (by event `id`: delivery is at least once), in the order they arrived. They stay on the queue
        for a later look.

        A receive with a zero visibility time-out would answer the same first ten messages again and
        again; so each receive hides what it got for a moment, and once the queue has nothing more
        to give, everything read is made visible again. One look at a time per queue."""
        sqs = self.client("sqs")
        received: list[dict[str, Any]] = []
        try:
            while True:
                answer = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=_SQS_RECEIVE_LIMIT,
                    VisibilityTimeout=_LOOK_SECONDS,
                    WaitTimeSeconds=0,
                    MessageSystemAttributeNames=["SentTimestamp"],
                )
                messages = answer.get("Messages", [])
                if not messages:
                    break
                received.extend(messages)
        finally:
            for start in range(0, len(received), _SQS_RECEIVE_LIMIT):
                chunk = received[start : start + _SQS_RECEIVE_LIMIT]
                entries = [
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(chunk)
                ]
                sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        # SentTimestamp has milliseconds only; the sort is stable, so ties keep the order received.
        received.sort(key=lambda message: int(message.get("Attributes", {}).get("SentTimestamp", 0)))
        seen: set[str] = set()
        found: list[dict[str, Any]] = []
        for message in received:
            event: dict[str, Any] = json.loads(message["Body"])
            if str(event.get("id")) not in seen:
                seen.add(str(event.get("id")))
                found.append(event)
        return found

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        return self.functions[function].invoke(event)

    def run_schedule(self, function: str, rule: str | None = None) -> Any:
        """Invoke `function` once, now, with what its scheduled rule sends; the function's answer.

        `rule` (the rule's logical id) is needed only when the function has several schedules.
        This stands for one tick of the rule, asked for by the caller: it runs with or without
        `poll`, whether or not the rule is enabled or run locally (cron), and it is not counted
        in `schedulers`. An exception from the function is raised here."""
        schedule = self._schedule(function, rule)
        event = event_for(schedule, self.arn(schedule.logical_id), region=self.model.region, account=self.model.account)
        return self.invoke(function, event)

    def call_api(
        self,
        method: str,
        path: str,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        query: QueryValues | None = None,
    ) -> ApiAnswer:
        """A request to the template's HTTP API, e.g. ("GET", "/disputes/d-1"): (status, headers, body),
        header names in lower case and the body parsed from JSON. A dict or list body is sent as JSON."""
        if self.http_api is None:
            raise RuntimeError("the local stack is not started")
        return self.http_api.call(method, path, body=body, headers=headers, query=query)

    def _schedule(self, function: str, rule: str | None) -> ScheduleSpec:
        if function not in self.model.functions:
            raise KeyError(f"{function} is not a function of the template")
        known = self.model.functions[function].schedules
        chosen = [schedule for schedule in known if rule in (None, schedule.logical_id)]
        if len(chosen) != 1:
            what = f"no schedule {rule}" if rule is not None else "not exactly one schedule"
            names = ", ".join(schedule.logical_id for schedule in known) or "none"
            raise LookupError(f"{function} has {what} (its schedules: {names})")
        return chosen[0]

    def _event_bus(self) -> str:
        """The name of the template's one event bus."""
        buses = list(self.model.event_buses)
        if len(buses) != 1:
            raise LookupError(f"expected one AWS::Events::EventBus in the template, found {buses or 'none'}")
        return self.ref(buses[0])

    @property
    def _created(self) -> LocalResources:
        if self._resources is None:
            raise RuntimeError("the local stack is not started")
        return self._resources

    # -- start-up steps ---------------------------------------------------------------------------
    def _start_aws(self) -> None:
        # Werkzeug would log every AWS call the functions make.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.endpoint_url = self._aws.start()
        cleared = [name for name in os.environ if name in _CLEARED_VARIABLES or name.startswith(_CLEARED_PREFIXES)]
        process = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.model.region,
            "AWS_REGION": self.model.region,
            **FAKE_CREDENTIALS,
        }
        self._saved_environment = {name: os.environ.get(name) for name in [*process, *cleared]}
        for name in cleared:
            del os.environ[name]
        os.environ.update(process)
        _reset_library_caches()

    def _name_rules(self) -> None:
        """What `!Ref` and `!GetAtt .Arn` give for each scheduled rule, for the events' `resources`
        and any environment that names a rule. Only the schedules are played: no rule is
        created on the embedded AWS, whose EventBridge would not fire them."""
        suffix = uuid.uuid4().hex[:12].upper()
        rules = {schedule.logical_id: schedule for spec in self.model.functions.values() for schedule in spec.schedules}
        for logical_id, schedule in rules.items():
            # As CloudFormation names an unnamed rule: shortened to fit, the random part kept.
            prefix = f"{self.model.stack_name}-{logical_id}"[: _MAX_RULE_NAME - len(suffix) - 1]
            name = schedule.name or f"{prefix}-{suffix}"
            self._created.refs[logical_id] = name
            self._created.attributes[(logical_id, "Arn")] = rule_arn(name, self.model.region, self.model.account)

    def _function_environments(self) -> dict[str, dict[str, str]]:
        environments: dict[str, dict[str, str]] = {}
        for logical_id, spec in self.model.functions.items():
            values = self._created.resolve(spec.environment, f"environment of {logical_id}")
            environments[logical_id] = {name: as_text(value) for name, value in values.items()}
            environments[logical_id].update(LOCAL_FUNCTION_ENVIRONMENT)
        for wiring in self._providers:
            self._wire(wiring, environments)
        if self._managed_login is not None:
            for variables in environments.values():
                if SIGN_IN_VARIABLE in variables:
                    variables[SIGN_IN_VARIABLE] = self._managed_login.url
        for logical_id, overrides in self._environment_overrides.items():
            if logical_id not in environments:
                raise KeyError(f"environment override for {logical_id}, not a function of the template")
            environments[logical_id].update(overrides)
        return environments

    def _wire(self, wiring: ProviderWiring, environments: dict[str, dict[str, str]]) -> None:
        wired = [lid for lid, spec in self.model.functions.items() if wiring.secret_variable in spec.environment]
        if not wired:
            raise ValueError(f"no function of the template declares {wiring.secret_variable}")
        for logical_id in wired:
            environments[logical_id][wiring.base_url_variable] = wiring.base_url
            secret = referenced_id(self.model.functions[logical_id].environment.get(wiring.secret_variable))
            if secret not in self.model.secrets:
                raise ValueError(f"{logical_id}: {wiring.secret_variable} is not a !Ref of a secret of the template")
            self._created.put_secret(secret, dict(wiring.secret_value))

    def _start_managed_login(self) -> None:
        """The pools' managed login on its own port, each client sending people back to the console."""
        created = self._created.user_pools
        clients = {
            client_id: pool.pool_id
            for pool in created.values()
            if pool.domains
            for client_id in pool.client_ids.values()
        }
        if not clients:
            return
        cognito = self.client("cognito-idp")
        for pool in created.values():
            for client_id in pool.client_ids.values():
                allow_sign_in(cognito, pool.pool_id, client_id, self.api_url + SIGN_IN_PAGE)
        self._managed_login = ManagedLogin(cognito, clients)
        self._managed_login.start()

    def _jwt_authorizers(self) -> dict[str, JwtAuthorizer]:
        found = {}
        for name, written in self.model.jwt_authorizers.items():
            configuration = self._created.resolve(written.get("jwtConfiguration") or {}, f"JWT authorizer {name}")
            token_issuer = str(configuration.get("issuer", ""))
            if not token_issuer.startswith(issuer(self.model.region, "")):
                raise ValueError(
                    f"JWT authorizer {name}: only a Cognito user pool of the template issues tokens locally"
                )
            found[name] = JwtAuthorizer(
                name=name,
                issuer=token_issuer,
                audience=tuple(str(item) for item in configuration.get("audience") or []),
                identity_source=str(written.get("identitySource", "$request.header.Authorization")),
                keys=IssuerKeys(self.endpoint_url, token_issuer, self.model.region),
            )
        return found

    def _load_functions(self) -> None:
        # One at a time: each function's environment is in place only while its module is imported.
        for logical_id, spec in self.model.functions.items():
            handler = load_handler(
                spec.code_dir, spec.handler, self.function_environments[logical_id], f"local_function_{logical_id}"
            )
            self.functions[logical_id] = LocalFunction(
                name=self._created.ref(logical_id) or logical_id,
                handler=handler,
                timeout_seconds=spec.timeout_seconds,
                memory_mb=spec.memory_mb,
                region=self.model.region,
                account=self.model.account,
            )

    def _start_pollers(self) -> None:
        for logical_id, spec in self.model.functions.items():
            for source in spec.event_sources:
                if not source.enabled:
                    continue
                window = self._window_override if self._window_override is not None else source.batching_window_seconds
                poller = SqsPoller(
                    sqs=self.client("sqs"),
                    queue_url=self.ref(source.queue),
                    queue_arn=self.arn(source.queue),
                    source=source,
                    function=self.functions[logical_id],
                    region=self.model.region,
                    batching_window_seconds=window,
                    visibility_timeout_seconds=self._visibility_timeout(source.queue),
                )
                poller.start()
                self.pollers.append(poller)
            for stream in spec.stream_sources:
                if stream.enabled:
                    self._start_stream_poller(logical_id, stream)

    def _visibility_timeout(self, queue: str) -> int:
        """The queue's visibility time-out as SQS applies it: the override, the template's, or SQS's default."""
        answer = self.client("sqs").get_queue_attributes(QueueUrl=self.ref(queue), AttributeNames=["VisibilityTimeout"])
        return int(answer["Attributes"]["VisibilityTimeout"])

    def _start_stream_poller(self, function: str, source: StreamEventSource) -> None:
        stream_arn = self._created.get_att(source.table, "StreamArn")
        if stream_arn is None:
            raise ValueError(f"{source.logical_id}: table {source.table} has no stream locally")
        window = self._window_override if self._window_override is not None else source.batching_window_seconds
        poller = StreamPoller(
            streams=self.client("dynamodbstreams"),
            sqs=self.client("sqs"),
            stream_arn=stream_arn,
            source=source,
            function=self.functions[function],
            function_arn=self.arn(function),
            region=self.model.region,
            batching_window_seconds=window,
            failure_queue_url=self.ref(source.on_failure) if source.on_failure is not None else None,
        )
        poller.start()
        self.stream_pollers.append(poller)

    def _start_schedulers(self) -> None:
        # A disabled rule is left out, as a disabled event source is; a cron one is listed (its
        # scheduler says why it does not run).
        for logical_id, spec in self.model.functions.items():
            for schedule in spec.schedules:
                if not schedule.enabled:
                    continue
                scheduler = Scheduler(
                    schedule=schedule,
                    function=self.functions[logical_id],
                    rule_arn=self.arn(schedule.logical_id),
                    region=self.model.region,
                    account=self.model.account,
                    period_seconds=self._schedule_override,
                )
                scheduler.start()
                self.schedulers.append(scheduler)


class _Starting:
    """The HTTP API while the stack starts: it listens early (its URL is part of the functions'
    environment) and answers 503 until the functions are loaded."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack

    def respond(self, method: str, path: str, **request: Any) -> RawAnswer:
        if self._stack.http_api is None:
            return gateway_error(503, "Service Unavailable", new_request_id())
        return self._stack.http_api.respond(method, path, **request)


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """The first truthy result of `condition`, polled until `timeout` seconds have passed; else None."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() >= deadline:
            return result or None
        time.sleep(interval)


def _reset_library_caches() -> None:
    """On Lambda a cold start is a new process. Here, library caches that hold AWS clients (made
    for another stack's endpoint) or secret values are emptied when a stack starts and stops."""
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
