from django.urls import path

from signaling import views

urlpatterns = [
    path("", views.talk, name="talk"),
    path("chat/", views.chat, name="chat"),
]
