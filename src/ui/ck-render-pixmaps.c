/* ck-render-pixmaps.c: a build tool
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 *   ck-render-pixmaps OUTPUT ICON.svg
 *
 * Renders the icon at the sizes tray panels use and writes them as the
 * serialized a(iiay) of StatusNotifierItem's IconPixmap (ARGB32 in network
 * byte order, the GVariant itself little-endian); none when no SVG loader
 * is installed. The agent puts these on
 * the bus straight from its GResource, so showing a tray icon never loads
 * an SVG renderer into it.
 */

#include <gdk-pixbuf/gdk-pixbuf.h>

static const int sizes[] = { 16, 22, 24, 32, 48 };

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GVariant) pixmaps = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;

  if (argc != 3)
    {
      g_printerr ("usage: ck-render-pixmaps OUTPUT ICON.svg\n");
      return 2;
    }

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(iiay)"));

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(GdkPixbuf) pixbuf = NULL;
      const guint8 *pixels;
      guint8 *argb;
      int width, height, stride, channels;

      pixbuf = gdk_pixbuf_new_from_file_at_scale (argv[2], sizes[i], sizes[i], TRUE, &error);
      if (pixbuf == NULL)
        {
          /* Hosts still find the icon by name once it is installed: warn,
           * and leave the pixmaps out rather than fail the build. */
          g_printerr ("ck-render-pixmaps: warning: %s; the tray icon will have no pixmaps "
                      "(install librsvg2-common, the SVG loader of gdk-pixbuf)\n",
                      error->message);
          break;
        }

      width = gdk_pixbuf_get_width (pixbuf);
      height = gdk_pixbuf_get_height (pixbuf);
      stride = gdk_pixbuf_get_rowstride (pixbuf);
      channels = gdk_pixbuf_get_n_channels (pixbuf);
      pixels = gdk_pixbuf_read_pixels (pixbuf);
      argb = g_malloc ((gsize) width * height * 4);

      for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
          {
            const guint8 *src = pixels + y * stride + x * channels;
            guint8 *dst = argb + ((gsize) y * width + x) * 4;

            dst[0] = channels == 4 ? src[3] : 0xff;
            dst[1] = src[0];
            dst[2] = src[1];
            dst[3] = src[2];
          }

      g_variant_builder_add (&builder, "(ii@ay)", width, height,
                             g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, argb,
                                                      (gsize) width * height * 4, TRUE,
                                                      g_free, argb));
    }

  pixmaps = g_variant_ref_sink (g_variant_builder_end (&builder));
#if G_BYTE_ORDER == G_BIG_ENDIAN
  {
    GVariant *swapped = g_variant_byteswap (pixmaps);

    g_variant_unref (pixmaps);
    pixmaps = swapped;
  }
#endif

  if (!g_file_set_contents (argv[1], g_variant_get_data (pixmaps), g_variant_get_size (pixmaps), &error))
    {
      g_printerr ("ck-render-pixmaps: %s\n", error->message);
      return 1;
    }
  return 0;
}
