import typing
import unittest
from typing import Annotated, Optional, Union

from injector import Injector, Module, inject, provider

from pdip.dependency import Container, MissingBindingError
from pdip.dependency.planning import constructor_parameters, is_primitive, type_name


class Repository(typing.Generic[typing.TypeVar("T")]):
    pass


class Report:
    pass


class NeedsReport:
    def __init__(self, report: Annotated[Report, "metadata"], *args, **kwargs):
        self.report = report


class ForwardReference:
    def __init__(self, missing: "DoesNotExist"):  # noqa: F821 - the unresolvable hint is the point
        self.missing = missing


class InjectedWithoutDefault:
    @inject
    def __init__(self, report: Report, label: str):
        self.report, self.label = report, label


class UntypedWithDefault:
    def __init__(self, report: Report, flavour="plain"):
        self.report, self.flavour = report, flavour


class KeywordOnly:
    def __init__(self, *, report: Report):
        self.report = report


class TypeNameTest(unittest.TestCase):
    def test_types_are_named_as_written(self):
        self.assertEqual(type_name(Report), "Report")
        self.assertEqual(type_name(Repository[Report]), "Repository[Report]")
        self.assertEqual(type_name(Optional[Report]), "Report | None")  # noqa: UP045 - the typing spelling on purpose
        self.assertEqual(type_name(Union[int, str]), "int | str")  # noqa: UP007 - the typing spelling on purpose
        self.assertEqual(type_name(dict[str, int]), "dict[str, int]")
        self.assertEqual(type_name(type(None)), "None")
        self.assertEqual(type_name("Forward"), "'Forward'")

    def test_primitives_include_optional_and_unions_of_them(self):
        self.assertTrue(is_primitive(str))
        self.assertTrue(is_primitive(list[int]))
        self.assertTrue(is_primitive(Optional[int]))  # noqa: UP045 - on purpose
        self.assertFalse(is_primitive(Optional[Report]))  # noqa: UP045 - on purpose
        self.assertFalse(is_primitive(Report))


class ConstructorParametersTest(unittest.TestCase):
    def test_annotated_hints_are_unwrapped_and_star_parameters_ignored(self):
        parameters = constructor_parameters(NeedsReport)
        self.assertEqual([(p.name, p.dependency, p.position) for p in parameters], [("report", Report, 0)])

    def test_an_unresolvable_hint_is_named_with_its_class(self):
        with self.assertRaisesRegex(MissingBindingError, r"ForwardReference: cannot read the constructor's type hints"):
            constructor_parameters(ForwardReference)

    def test_an_inject_constructor_parameter_without_binding_or_default_is_named(self):
        parameters = constructor_parameters(InjectedWithoutDefault)
        self.assertEqual([p.name for p in parameters], ["report", "label"])
        container = Container()
        with self.assertRaisesRegex(MissingBindingError, r"InjectedWithoutDefault -> str: a plain str"):
            container.get(InjectedWithoutDefault)

    def test_an_untyped_parameter_with_a_default_keeps_it(self):
        built = Container().get(UntypedWithDefault)
        self.assertEqual(built.flavour, "plain")
        self.assertIsInstance(built.report, Report)

    def test_keyword_only_dependencies_are_passed_by_name(self):
        self.assertIsNone(constructor_parameters(KeywordOnly)[0].position)
        self.assertIsInstance(Container().get(KeywordOnly).report, Report)


class InjectorBridgeTest(unittest.TestCase):
    def test_the_injector_resolves_container_services_and_is_itself_injectable(self):
        container = Container()
        injector = container.get(Injector)
        self.assertIs(injector, container.injector)
        self.assertIsInstance(injector.get(Report), Report)

    def test_module_providers_may_depend_on_container_services_and_win_over_defaults(self):
        class Labels(Module):
            @provider
            def label(self, report: Report) -> str:
                return f"label for {type(report).__name__}"

        container = Container([Labels()])
        self.assertEqual(container.get(str), "label for Report")
        self.assertEqual(container.get(InjectedWithoutDefault).label, "label for Report")


if __name__ == "__main__":
    unittest.main()
