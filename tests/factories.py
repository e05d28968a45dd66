"""factory_boy factories for every model the tests need."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from feedback.models import Feedback
from mitigations.models import (
    Actor,
    Figure,
    LifecycleStage,
    Mitigation,
    RmfFunction,
    SourceDocument,
    TaxonomyCategory,
)
from portal.lib import access


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=access.group_name(extracted)))
            self.is_staff = extracted in access.STAFF_ROLES
        self.save()


class CategoryFactory(factory.django.DjangoModelFactory):
    """A level-3 category (its parents are created as needed)."""

    class Meta:
        model = TaxonomyCategory
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"9.{n % 50 + 1}.{n + 1}")
    name = factory.Sequence(lambda n: f"Category {n}")
    description = "A category for tests."

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        code = kwargs["code"]
        parts = code.split(".")
        for i in range(1, len(parts)):
            model_class.objects.get_or_create(
                code=".".join(parts[:i]), defaults={"name": f"Parent {'.'.join(parts[:i])}"}
            )
        return super()._create(model_class, *args, **kwargs)


class LifecycleStageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LifecycleStage
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Stage {n}")
    description = "A lifecycle stage."


class ActorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Actor
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Actor {n}")
    description = "An actor."


class RmfFunctionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RmfFunction
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Function {n}")
    description = "An RMF function."


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SourceDocument
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"source{n}")
    title = factory.Sequence(lambda n: f"A study of mitigations, part {n}")
    authors = factory.LazyFunction(lambda: ["Doe, Jane", "Roe, Richard"])
    year = 2024
    abstract = "What the study found."


class MitigationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mitigation
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"T{n + 1000}")
    name = factory.Sequence(lambda n: f"Mitigation number {n}")
    definition = "Does something that lowers a risk."
    additional_information = "Experts **mostly** agreed."
    reasoning = "It fits this category."
    category = factory.SubFactory(CategoryFactory)
    status = Mitigation.Status.POLISHING


class FigureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Figure

    mitigation = factory.SubFactory(MitigationFactory)
    key = factory.Sequence(lambda n: f"figure_{n}")
    label = factory.Sequence(lambda n: f"Experts rating it effective, area {n}")
    value = Decimal("55.5")
    unit = "%"
    risk_area = "CBRN"
    sample_size = 76
    preliminary = False
    embargo_until = None
    note = ""


def past(days=1):
    return datetime.date.today() - datetime.timedelta(days=days)


def future(days=30):
    return datetime.date.today() + datetime.timedelta(days=days)


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feedback

    mitigation = factory.SubFactory(MitigationFactory)
    section = Feedback.Section.DEFINITION
    kind = Feedback.Kind.ERROR
    comment = factory.Sequence(lambda n: f"The definition has a problem, number {n}.")
    submission_id = factory.Sequence(lambda n: f"sub-{n:08d}")
    ip_hash = "0" * 64
