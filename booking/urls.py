from django.urls import path

from booking import views

app_name = "booking"

urlpatterns = [
    path("", views.request_consultation, name="request"),
    path("times/", views.open_times, name="times"),
    path("received/", views.request_received, name="received"),
    path("request/<str:token>/", views.request_detail, name="request-detail"),
    path("request/<str:token>/cancel/", views.request_cancel, name="request-cancel"),
]
