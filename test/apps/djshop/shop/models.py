import uuid

from django.db import models
from django.db.models import Q


class Customer(models.Model):
    name = models.CharField(max_length=120)
    email = models.EmailField(unique=True)
    external_id = models.UUIDField(default=uuid.uuid4, unique=True)
    active = models.BooleanField(default=True)
    profile = models.JSONField(default=dict)
    visits = models.PositiveIntegerField(default=0)
    tags = models.CharField(max_length=512, blank=True)
    joined = models.DateTimeField(auto_now_add=True)
    birthday = models.DateField(null=True)

    class Meta:
        indexes = [models.Index(fields=["name"], name="active_name", condition=Q(active=True))]
        constraints = [models.CheckConstraint(condition=Q(visits__lt=1000000), name="visits_bound")]


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    seq = models.IntegerField()
    note = models.TextField(blank=True)
    placed = models.DateTimeField()
