from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path
from django.views.decorators.http import require_safe

from articles.sitemaps import ArticleSitemap, TopicSitemap
from clinic import views
from clinic.pagecache import public_page
from clinic.sitemaps import StaticViewSitemap

sitemaps = {"static": StaticViewSitemap, "articles": ArticleSitemap, "topics": TopicSitemap}

# The front desk runs its day in the appointment list: it gets the screen's whole width
# (the sidebar left a 1280-pixel screen's list its columns cut off). The breadcrumbs and
# the admin's home lead to every other page.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    # public_page: the same for every anonymous visitor, so served from the cache.
    path("", public_page(views.home), name="home"),
    path("robots.txt", views.robots_txt, name="robots-txt"),
    path("healthz", views.healthz, name="healthz"),
    # Only read: PUT, POST or DELETE get a 405, as on every other page.
    path("sitemap.xml", require_safe(sitemap), {"sitemaps": sitemaps}, name="sitemap"),
    path("articles/", include("articles.urls")),
    path("book/", include("booking.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "clinic.views.page_not_found"
handler500 = "clinic.views.server_error"
