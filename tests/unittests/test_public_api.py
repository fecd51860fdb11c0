"""Each area's `__all__` is pinned here: changing a public surface is a decision, not an accident."""

import importlib
import pkgutil
import unittest

import pdip

EXPECTED = {
    "pdip": ["Pdi", "__version__"],
    "pdip.api": [
        "ApiApp",
        "ApiError",
        "Authenticator",
        "BadRequestError",
        "Caller",
        "ConflictError",
        "ControllerBase",
        "Credential",
        "ForbiddenError",
        "FromBody",
        "FromQuery",
        "FromRoute",
        "NotFoundError",
        "Principal",
        "RoutingError",
        "UnauthorizedError",
        "error_status",
        "generate_key",
        "hash_key",
        "status",
    ],
    "pdip.base": ["Pdi"],
    "pdip.configuration": [
        "ApiConfig",
        "ApplicationConfig",
        "BaseConfig",
        "Configuration",
        "ConfigurationError",
        "DatabaseConfig",
        "MissingSectionError",
    ],
    "pdip.configuration.models": ["ApiConfig", "ApplicationConfig", "BaseConfig", "DatabaseConfig"],
    "pdip.conversion": [
        "ConversionError",
        "Problem",
        "check",
        "convert",
        "expected",
        "json_default",
        "to_bool",
        "to_plain",
    ],
    "pdip.cqrs": [
        "CqrsConfig",
        "Dispatcher",
        "DuplicateHandlerError",
        "HandlerNotFoundError",
        "HandlerRegistry",
        "ICommand",
        "ICommandHandler",
        "INotification",
        "INotificationHandler",
        "IPipelineBehavior",
        "IQuery",
        "IQueryHandler",
        "IUnitOfWork",
        "LoggingBehavior",
        "PublishResult",
        "UnitOfWorkBehavior",
        "ValidationBehavior",
        "ValidationError",
    ],
    "pdip.cryptography": [
        "CryptoService",
        "CryptographyError",
        "CryptographyNotInstalledError",
        "DecryptionError",
        "SecretKeyError",
    ],
    "pdip.data": [
        "ChangeLogReader",
        "ConstraintViolationError",
        "DataError",
        "DatabaseSessionManager",
        "Entity",
        "EntityNotFoundError",
        "Page",
        "Repository",
        "RepositoryProvider",
        "Seed",
        "SeedRunner",
        "TenantContext",
        "TenantMismatchError",
        "Tracked",
        "UnitOfWork",
        "current_tenant",
        "tenant",
        "transactionhandler",
    ],
    "pdip.dependency": [
        "Container",
        "DependencyCycleError",
        "DiscoveryError",
        "IScoped",
        "ISingleton",
        "Lifetime",
        "MissingBindingError",
        "PdiConfigurationError",
        "ScopeNotOpenError",
    ],
    "pdip.integrator": [
        "AdapterNotFoundError",
        "Batch",
        "Connection",
        "ExecutionExistsError",
        "ExecutionResult",
        "Integration",
        "IntegrationFailedError",
        "IntegrationResult",
        "Integrator",
        "IntegratorConfig",
        "NothingToResumeError",
        "Operation",
        "OperationError",
        "RunRefusedError",
        "StateStore",
        "UnknownExecutionError",
    ],
    "pdip.integrator.adapters": [
        "Adapter",
        "AdapterRegistry",
        "Capabilities",
        "Disposition",
        "ReadRequest",
        "Source",
        "Target",
        "WriteResult",
    ],
    "pdip.integrator.adapters.file": [],
    "pdip.integrator.adapters.kafka": [],
    "pdip.integrator.adapters.sql": [],
    "pdip.integrator.executors": ["EXECUTORS", "Endpoints", "Executor", "executor_class", "executor_for", "lives_here"],
    "pdip.integrator.runs": [],
    "pdip.logging": ["ConsoleLogger"],
    "pdip.logging.loggers": ["ConsoleLogger"],
    "pdip.tracking": [
        "AsyncQueueObserver",
        "CallbackObserver",
        "ChangeCollector",
        "ChangeLogEntry",
        "JsonLinesExporter",
        "KafkaExporter",
        "ObserverConfigError",
        "SqlExporter",
        "TrackedDict",
        "TrackedList",
        "TrackedObject",
        "Tracker",
        "TrackingError",
        "current_actor",
        "observers_from_config",
        "read_json_lines",
        "tracking_actor",
    ],
    "pdip.messaging": ["KafkaDeliveryError", "KafkaSender", "KafkaSettings", "KafkaSettingsError", "kafka_settings"],
    "pdip.policy": [
        "MASK",
        "REDACTED",
        "MissingSaltError",
        "Policy",
        "PolicyConfig",
        "PolicyError",
        "PolicyFile",
        "PolicyFileError",
        "PolicyLogFilter",
        "Rule",
        "is_secret_name",
        "mask_connection_string",
        "mask_secrets",
    ],
}

# The import paths ARCHITECTURE.md promises to users.
CONTRACT = [
    ("pdip", "Pdi"),
    ("pdip.base", "Pdi"),
    ("pdip.logging.loggers.console", "ConsoleLogger"),
    ("pdip.dependency", "ISingleton"),
    ("pdip.dependency", "IScoped"),
    ("pdip.configuration.models.base", "BaseConfig"),
    ("pdip.configuration", "BaseConfig"),
    ("pdip.cryptography", "CryptoService"),
    ("pdip.cqrs", "ICommand"),
    ("pdip.cqrs", "ICommandHandler"),
    ("pdip.cqrs", "Dispatcher"),
    ("pdip.cqrs.decorators", "dtoclass"),
    ("pdip.data", "Entity"),
    ("pdip.data.domain", "Entity"),
    ("pdip.data", "RepositoryProvider"),
    ("pdip.data", "tenant"),
    ("pdip.integrator.base", "Integrator"),
    ("pdip.tracking", "ChangeLogEntry"),
    ("pdip.tracking", "TrackedDict"),
    ("pdip.tracking", "TrackedList"),
    ("pdip.tracking", "TrackedObject"),
    ("pdip.tracking", "tracking_actor"),
    ("pdip.policy", "Policy"),
    ("pdip.api.base", "ControllerBase"),
    ("pdip.api", "ApiApp"),
]


class PublicApiTest(unittest.TestCase):
    def test_each_area_exports_exactly_its_pinned_names(self):
        for module_name, names in EXPECTED.items():
            with self.subTest(module=module_name):
                module = importlib.import_module(module_name)
                self.assertEqual(sorted(module.__all__), sorted(names))
                for name in names:
                    self.assertTrue(hasattr(module, name), f"{module_name}.{name} is in __all__ but missing")

    def test_every_package_is_pinned(self):
        packages = {"pdip"} | {info.name for info in pkgutil.walk_packages(pdip.__path__, "pdip.") if info.ispkg}
        self.assertEqual(sorted(packages), sorted(EXPECTED))

    def test_the_promised_import_paths_work(self):
        for module_name, name in CONTRACT:
            with self.subTest(path=f"{module_name}.{name}"):
                self.assertTrue(hasattr(importlib.import_module(module_name), name))

    def test_an_unknown_attribute_of_pdip_is_an_attribute_error(self):
        with self.assertRaises(AttributeError):
            pdip.NotAThing  # noqa: B018


if __name__ == "__main__":
    unittest.main()
