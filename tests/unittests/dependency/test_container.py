import abc
import unittest

from injector import Inject, Module, NoInject, inject, provider

from pdip.dependency import (
    Container,
    DependencyCycleError,
    IScoped,
    ISingleton,
    Lifetime,
    MissingBindingError,
    PdiConfigurationError,
    ScopeNotOpenError,
)


class Clock:
    pass


class Settings(ISingleton):
    pass


class Session(IScoped):
    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


class Repository:
    def __init__(self, session: Session, clock: Clock):
        self.session, self.clock = session, clock


class BaseSingleton(ISingleton):
    pass


class DeepSingleton(BaseSingleton):
    pass


class IStore(abc.ABC):
    @abc.abstractmethod
    def save(self, item): ...


class MemoryStore(IStore):
    def save(self, item):
        return item


class FileStore(IStore):
    def save(self, item):
        return item


class NeedsStore:
    def __init__(self, store: IStore):
        self.store = store


class NeedsName:
    def __init__(self, name: str):
        self.name = name


class Defaults:
    def __init__(self, clock: Clock, retries: int = 3, store: IStore | None = None, note: str | None = None):
        self.clock, self.retries, self.store, self.note = clock, retries, store, note


class Chicken:
    def __init__(self, egg: "Egg"):
        self.egg = egg


class Egg:
    def __init__(self, chicken: Chicken):
        self.chicken = chicken


class SingletonOverScoped(ISingleton):
    def __init__(self, session: Session):
        self.session = session


class InjectorStyle:
    @inject
    def __init__(self, clock: Clock, settings: Settings):
        self.clock, self.settings = clock, settings


class PartlyInjected:
    @inject
    def __init__(self, clock: Inject[Clock], label: NoInject[str] = "plain"):
        self.clock, self.label = clock, label


class Untyped:
    def __init__(self, thing):
        self.thing = thing


class Mailer(ISingleton):
    def send(self):
        return "real"


class FakeMailer:
    def send(self):
        return "fake"


class Signup(ISingleton):
    def __init__(self, mailer: Mailer):
        self.mailer = mailer


class Greeting:
    def __init__(self, text: str):
        self.text = text


class GreetingModule(Module):
    @provider
    def greeting(self, clock: Clock) -> Greeting:
        return Greeting(f"hello at {type(clock).__name__}")


class TransientAndSingletonTest(unittest.TestCase):
    def setUp(self):
        self.container = Container()

    def test_an_unmarked_class_is_new_on_every_resolution(self):
        self.assertIsNot(self.container.get(Clock), self.container.get(Clock))
        self.assertIsInstance(self.container.get(Clock), Clock)

    def test_a_singleton_is_created_once(self):
        self.assertIs(self.container.get(Settings), self.container.get(Settings))

    def test_the_singleton_marker_counts_at_any_depth_of_inheritance(self):
        self.assertIs(self.container.get(DeepSingleton), self.container.get(DeepSingleton))

    def test_both_markers_on_one_class_is_an_error(self):
        class Confused(ISingleton, IScoped):
            pass

        with self.assertRaisesRegex(PdiConfigurationError, "Confused inherits both ISingleton and IScoped"):
            self.container.get(Confused)

    def test_constructor_dependencies_are_read_from_type_hints_without_inject(self):
        with self.container.scope():
            repository = self.container.get(Repository)
        self.assertIsInstance(repository.session, Session)
        self.assertIsInstance(repository.clock, Clock)

    def test_injector_inject_decorator_is_honoured(self):
        built = self.container.get(InjectorStyle)
        self.assertIsInstance(built.clock, Clock)
        self.assertIs(built.settings, self.container.get(Settings))

    def test_inject_and_noinject_markers_are_honoured(self):
        built = self.container.get(PartlyInjected)
        self.assertIsInstance(built.clock, Clock)
        self.assertEqual(built.label, "plain")

    def test_parameters_with_defaults_keep_them_unless_something_can_be_injected(self):
        self.container.register(IStore, MemoryStore)
        built = self.container.get(Defaults)
        self.assertEqual(built.retries, 3)
        self.assertIsNone(built.note)
        self.assertIsInstance(built.store, MemoryStore)

    def test_an_optional_dependency_with_nothing_to_inject_keeps_its_default(self):
        built = self.container.get(Defaults)
        self.assertIsNone(built.store)

    def test_registered_instance_and_factory(self):
        clock = Clock()
        self.container.register_instance(Clock, clock)
        self.container.register_factory(Greeting, lambda: Greeting("made"), Lifetime.SINGLETON)
        self.assertIs(self.container.get(Clock), clock)
        self.assertEqual(self.container.get(Greeting).text, "made")
        self.assertIs(self.container.get(Greeting), self.container.get(Greeting))

    def test_an_interface_registered_to_an_implementation(self):
        self.container.register(IStore, FileStore, Lifetime.SINGLETON)
        self.assertIsInstance(self.container.get(NeedsStore).store, FileStore)
        self.assertIs(self.container.get(IStore), self.container.get(IStore))
        self.assertTrue(self.container.is_registered(IStore))

    def test_injector_modules_provide_what_they_bind(self):
        container = Container([GreetingModule()])
        self.assertEqual(container.get(Greeting).text, "hello at Clock")


class ScopeTest(unittest.TestCase):
    def setUp(self):
        self.container = Container()

    def test_scoped_services_are_shared_within_a_scope_and_fresh_in_the_next(self):
        with self.container.scope():
            first = self.container.get(Session)
            self.assertIs(first, self.container.get(Repository).session)
            self.assertTrue(self.container.in_scope)
        with self.container.scope():
            second = self.container.get(Session)
        self.assertIsNot(first, second)
        self.assertFalse(self.container.in_scope)

    def test_leaving_a_scope_closes_what_it_created(self):
        with self.container.scope():
            session = self.container.get(Session)
            self.assertFalse(session.closed)
        self.assertTrue(session.closed)

    def test_a_scoped_service_outside_any_scope_is_an_error_that_says_what_to_do(self):
        with self.assertRaises(ScopeNotOpenError) as raised:
            self.container.get(Session)
        self.assertIn("Session is IScoped", str(raised.exception))
        self.assertIn("with pdi.scope():", str(raised.exception))


class MissingBindingTest(unittest.TestCase):
    def setUp(self):
        self.container = Container()

    def test_an_abstract_dependency_without_implementation_names_the_chain(self):
        with self.assertRaises(MissingBindingError) as raised:
            self.container.get(NeedsStore)
        self.assertEqual(raised.exception.chain, ["NeedsStore", "IStore"])
        self.assertIn("NeedsStore -> IStore: abstract, and no implementation was found", str(raised.exception))

    def test_a_plain_str_without_default_cannot_be_injected(self):
        with self.assertRaisesRegex(MissingBindingError, r"NeedsName -> str: a plain str cannot be injected"):
            self.container.get(NeedsName)

    def test_a_parameter_without_type_hint_is_named(self):
        with self.assertRaisesRegex(MissingBindingError, r"Untyped: constructor parameter 'thing' has no type hint"):
            self.container.get(Untyped)

    def test_a_cycle_is_reported_with_its_chain(self):
        with self.assertRaises(DependencyCycleError) as raised:
            self.container.get(Chicken)
        self.assertEqual(raised.exception.chain, ["Chicken", "Egg", "Chicken"])

    def test_one_implementation_found_is_used_for_its_abstract_base(self):
        self.container.add_implementations([MemoryStore, NeedsStore])
        self.assertIsInstance(self.container.get(NeedsStore).store, MemoryStore)

    def test_several_implementations_are_listed(self):
        self.container.add_implementations([MemoryStore, FileStore])
        with self.assertRaisesRegex(MissingBindingError, r"several implementations \(FileStore, MemoryStore\)"):
            self.container.get(IStore)

    def test_a_singleton_may_not_hold_a_scoped_service(self):
        with self.assertRaisesRegex(
            MissingBindingError, r"SingletonOverScoped -> Session: an ISingleton cannot depend on an IScoped"
        ):
            self.container.get(SingletonOverScoped)

    def test_a_key_that_is_not_a_class_needs_a_registration(self):
        with self.assertRaisesRegex(MissingBindingError, r"nothing is registered for list\[IStore\]|a plain list"):
            self.container.get(list[IStore])

    def test_validate_reports_every_problem_at_once(self):
        with self.assertRaises(PdiConfigurationError) as raised:
            self.container.validate([NeedsName, Chicken, Clock])
        self.assertEqual(len(raised.exception.problems), 2)
        self.assertIn("NeedsName -> str", raised.exception.problems[0])
        self.assertIn("Chicken -> Egg -> Chicken", raised.exception.problems[1])


class OverrideTest(unittest.TestCase):
    def setUp(self):
        self.container = Container()

    def test_override_replaces_within_the_block_and_restores_after(self):
        real = self.container.get(Signup)
        self.assertEqual(real.mailer.send(), "real")
        with self.container.override(Mailer, FakeMailer()):
            self.assertEqual(self.container.get(Signup).mailer.send(), "fake")
            self.assertIsNot(self.container.get(Signup), real)
        self.assertIs(self.container.get(Signup), real)
        self.assertEqual(self.container.get(Mailer).send(), "real")

    def test_a_singleton_first_built_during_an_override_is_rebuilt_after(self):
        with self.container.override(Mailer, FakeMailer):
            self.assertEqual(self.container.get(Signup).mailer.send(), "fake")
        self.assertEqual(self.container.get(Signup).mailer.send(), "real")

    def test_override_of_an_unregistered_key_is_removed_after(self):
        with self.container.override(IStore, MemoryStore):
            self.assertIsInstance(self.container.get(IStore), MemoryStore)
        self.assertFalse(self.container.is_registered(IStore))

    def test_apply_overrides_registers_classes_and_instances(self):
        clock = Clock()
        self.container.apply_overrides({IStore: FileStore, Clock: clock})
        self.assertIsInstance(self.container.get(IStore), FileStore)
        self.assertIs(self.container.get(Clock), clock)


class CloseTest(unittest.TestCase):
    def test_close_releases_created_singletons_newest_first_and_only_once(self):
        released = []

        class Pool(ISingleton):
            def close(self):
                released.append("pool")

        class Engine(ISingleton):
            def __init__(self, pool: Pool):
                self.pool = pool

            def cleanup(self):
                released.append("engine")

        container = Container()
        container.get(Engine)
        container.close()
        container.close()
        self.assertEqual(released, ["engine", "pool"])

    def test_a_failing_release_is_logged_and_the_others_still_run(self):
        released = []

        class Broken(ISingleton):
            def close(self):
                raise RuntimeError("boom")

        class Fine(ISingleton):
            def close(self):
                released.append("fine")

        container = Container()
        container.get(Fine)
        container.get(Broken)
        with self.assertLogs("pdip.dependency.container", level="ERROR") as logs:
            container.close()
        self.assertEqual(released, ["fine"])
        self.assertRegex(logs.output[0], r"releasing .*Broken failed")

    def test_instances_given_to_the_container_are_not_closed(self):
        session = Session()
        container = Container()
        container.register_instance(Session, session)
        container.get(Session)
        container.close()
        self.assertFalse(session.closed)


if __name__ == "__main__":
    unittest.main()
